"""Typing noise of exported reports: misspellings, vowel swaps, dropped/duplicated letters, missing accents,
irregular spacing and stray capitals.

Positions are word indices in the whitespace tokenisation of the clean text (``clean.split()``). Noise never
splits or merges words, so ``noisy.split()`` has the same length as ``clean.split()``; an irregular-spacing
error only widens the gap before its word. Only *eligible* words are corrupted: a purely alphabetic core
(punctuation around it is kept) of at least five letters, not all capitals (titles, acronyms) and not
protected (laterality, negations). Numbers, BI-RADS categories and PHI are never eligible. A corruption that
would turn the word into another word of the report vocabulary or into another inflection of itself (a
real-word error, which no corrector without grammar can detect) is redrawn.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

import numpy as np

PROTECTED_WORDS = frozenset(
    {
        "derecha",
        "derecho",
        "izquierda",
        "izquierdo",
        "bilateral",
        "bilaterales",
        "ambas",
        "ambos",
        "no",
        "sin",
        "ni",
        "nunca",
        "tampoco",
        "ningún",
        "ninguna",
    }
)
MIN_LETTERS = 5  # a one-letter slip in a 4-letter word ('mama', 'tipo') is usually another word
VOWELS = "aeiou"
KINDS = ("misspelling", "vowel", "drop", "duplicate", "accent", "spacing", "capital")
KIND_WEIGHTS = np.array([0.18, 0.2, 0.15, 0.12, 0.15, 0.1, 0.1])
# Neighbouring keys on a Spanish keyboard, for substitution typos.
_KEYBOARD = {
    "q": "wa",
    "w": "qes",
    "e": "wrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "oñ",
    "a": "qsz",
    "s": "adwx",
    "d": "sfec",
    "f": "dgrv",
    "g": "fhtb",
    "h": "gjyn",
    "j": "hkum",
    "k": "jlim",
    "l": "kño",
    "ñ": "lp",
    "z": "xas",
    "x": "zcsd",
    "c": "xvdf",
    "v": "cbfg",
    "b": "vngh",
    "n": "bmhj",
    "m": "njk",
}
_CORE = re.compile(r"^(\W*)([^\W\d_]+)(\W*)$")


def strip_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn" or c == "\u0303")
    return unicodedata.normalize("NFC", kept)  # keeps ñ: n + combining tilde recomposes


def split_core(token: str) -> tuple[str, str, str] | None:
    """(leading punctuation, alphabetic core, trailing punctuation), or None for non-word tokens."""
    m = _CORE.match(token)
    return (m.group(1), m.group(2), m.group(3)) if m else None


def is_eligible(token: str) -> bool:
    parts = split_core(token)
    if parts is None:
        return False
    core = parts[1]
    return len(core) >= MIN_LETTERS and not core.isupper() and core.lower() not in PROTECTED_WORDS


def _corrupt_core(core: str, kind: str, rng: np.random.Generator) -> str | None:
    """One corruption of a word; None when the kind does not apply to it."""
    chars = list(core)
    n = len(chars)
    if kind == "misspelling":
        i = int(rng.integers(1, n))
        if rng.random() < 0.5 and i < n - 1:  # transposition
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:  # neighbouring key
            low = strip_accents(chars[i].lower())
            if low not in _KEYBOARD:
                return None
            options = _KEYBOARD[low]
            chars[i] = options[int(rng.integers(len(options)))]
    elif kind == "vowel":
        idx = [i for i, c in enumerate(chars) if strip_accents(c.lower()) in VOWELS and i > 0]
        if not idx:
            return None
        i = idx[int(rng.integers(len(idx)))]
        base = strip_accents(chars[i].lower())
        chars[i] = [v for v in VOWELS if v != base][int(rng.integers(4))]
    elif kind == "drop":
        del chars[int(rng.integers(1, n))]
    elif kind == "duplicate":
        i = int(rng.integers(1, n))
        chars.insert(i, chars[i].lower())
    elif kind == "accent":
        stripped = strip_accents(core)
        return stripped if stripped != core else None
    elif kind == "capital":
        idx = [i for i in range(1, n) if chars[i].islower()]
        if not idx:
            return None
        i = idx[int(rng.integers(len(idx)))]
        chars[i] = chars[i].upper()
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return "".join(chars)


def _is_real_word(
    candidate: str, original: str, vocabulary: Collection[str], stripped: Collection[str]
) -> bool:
    low, orig = candidate.lower(), original.lower()
    if low == orig:
        return False
    bare = strip_accents(low)
    return (
        low in vocabulary or (bare in stripped and bare != strip_accents(orig)) or _is_inflection(low, orig)
    )


def _is_inflection(candidate: str, original: str) -> bool:
    """Another number/gender/person form of the same word (densa/densas/denso, observa/observan)."""
    stems = {w.removesuffix("s").removesuffix("n") for w in (candidate, original)}
    if len(stems) == 1:
        return True
    a, b = (w.removesuffix("s") for w in (candidate, original))
    return a[:-1] == b[:-1] and {a[-1:], b[-1:]} <= {"a", "o", "e"}


def inject_noise(
    clean: str,
    rate: float,
    rng: np.random.Generator,
    vocabulary: Collection[str],
    protected_indices: Collection[int] = (),
) -> tuple[str, list[dict]]:
    """Corrupt each eligible word of `clean` with probability `rate`; return (noisy text, error log)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"text noise rate must be in [0, 1], got {rate}")
    # Keep the line structure: tokens are numbered across lines in clean.split() order.
    stripped = {strip_accents(v) for v in vocabulary}
    out_lines: list[str] = []
    errors: list[dict] = []
    index = 0
    for line in clean.split("\n"):
        tokens = line.split()
        out_tokens: list[str] = []
        for pos, token in enumerate(tokens):
            noisy = token
            if index not in protected_indices and is_eligible(token) and rng.random() < rate:
                noisy, kind = _corrupt_token(token, pos, rng, vocabulary, stripped)
                if noisy != token:
                    errors.append({"word_index": index, "original": token, "corrupted": noisy, "kind": kind})
            out_tokens.append(noisy)
            index += 1
        # Irregular spacing widens the gap before a word; join keeps single spaces elsewhere.
        out_lines.append(" ".join(out_tokens).replace("\x00", " "))
    return "\n".join(out_lines), [_visible(e) for e in errors]


def _visible(error: dict) -> dict:
    return {**error, "corrupted": error["corrupted"].replace("\x00", " ")}


def _corrupt_token(
    token: str, pos: int, rng: np.random.Generator, vocabulary: Collection[str], stripped: Collection[str]
) -> tuple[str, str]:
    lead, core, trail = split_core(token)  # type: ignore[misc]  # eligible tokens always split
    has_accent = strip_accents(core) != core
    for _ in range(10):
        if has_accent and rng.random() < 0.35:
            kind = "accent"
        else:
            kind = KINDS[int(rng.choice(len(KINDS), p=KIND_WEIGHTS / KIND_WEIGHTS.sum()))]
        if kind == "spacing":
            if pos == 0:
                continue
            # \x00 marks one extra space before the word (resolved when the line is joined).
            return "\x00" * int(rng.integers(1, 3)) + token, kind
        new_core = _corrupt_core(core, kind, rng)
        if new_core is None or new_core == core or _is_real_word(new_core, core, vocabulary, stripped):
            continue
        if kind == "accent" and strip_accents(core.lower()) in vocabulary:
            continue  # e.g. 'está'/'esta': the unaccented form is itself a word
        return lead + new_core + trail, kind
    return token, "none"

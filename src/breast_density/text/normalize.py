"""Spanish report normalisation: Unicode, spacing, stray capitals, accents and misspellings.

Every change is returned as a ``Change(original, corrected, rule)`` so the stage can log it. Rules:
``unicode`` (NFC, odd spaces and quotes), ``spacing`` (runs of blanks, blanks around punctuation),
``abbreviation`` (shipped list: 'dcha.' -> 'derecha'), ``case`` (stray capitals inside a word), ``accent``
(missing accents restored), ``spelling`` (closest lexicon word, only for words that are not Spanish: see
lexicon.py). A word-level change combining rules is
logged with them joined by '+', e.g. ``case+spelling``.

Protected tokens are never altered: de-identification placeholders ([NOMBRE], [FECHA], [NHC], [ID]),
anything with a digit (numbers, sizes, dates, BI-RADS 0-6), BI-RADS itself, laterality, negations, and
capitalised acronyms that are not lexicon words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd
from tqdm import tqdm

from breast_density.text.lexicon import NO_AGREEMENT, Agreement, Lexicon
from breast_density.text.screen import screen_text

PROTECTED_WORDS = frozenset(
    {"derecha", "derecho", "izquierda", "izquierdo", "bilateral", "bilaterales", "ambas", "ambos",
     "no", "sin", "ni", "nunca", "tampoco", "ningún", "ninguno", "ninguna", "nada"}
)  # fmt: skip
MIN_CORRECTABLE = 4  # shorter words are too ambiguous to correct without context
MAX_ACRONYM = 5  # all-capital words up to this length that the lexicon does not know are acronyms

_PLACEHOLDER = re.compile(r"\[[A-ZÁÉÍÓÚÑ_]+\]")
_BIRADS = re.compile(r"bi-?rads", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+")
_ODD_CHARS = str.maketrans({"\u00a0": " ", "\u2009": " ", "\u202f": " ", "\t": " ", "\u201c": '"',
                            "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u00b4": "'"})  # fmt: skip
# (pattern, replacement) applied to each line in turn; each match is one logged 'spacing' change.
_SPACING_RULES = (
    (re.compile(r" {2,}"), " "),
    (re.compile(r"^ +| +$"), ""),
    (re.compile(r"(?<=[^\W_]|[\])]) +(?=[,.;:)])"), ""),  # no blank before closing punctuation
    (re.compile(r"(?<=\() +"), ""),
    (re.compile(r"(?<=[,;:])(?=[^\W\d_])"), " "),  # a blank after , ; : before a word (not 1,5 or 10:30)
    (re.compile(r"(?<=[^\W\d_]{2})\.(?=[^\W\d_]{2})"), ". "),  # 'densas.No' -> 'densas. No'
)


@dataclass(frozen=True)
class Change:
    original: str
    corrected: str
    rule: str


def normalize_text(
    text: str, lexicon: Lexicon, *, max_edit_distance: int = 2, min_similarity: float = 80.0
) -> tuple[str, list[Change]]:
    """Normalised report text (line structure kept) and the list of changes made."""
    changes: list[Change] = []
    nfc = _unicode_changes(text, changes)
    lines = [_fix_spacing(line, changes) for line in nfc.split("\n")]
    out_lines = []
    for line in lines:
        tokens = line.split(" ")
        for i, tok in enumerate(tokens):
            if tok.lower() in lexicon.abbreviations:
                tokens[i] = _expand(tok, tokens[i + 1] if i + 1 < len(tokens) else "", lexicon, changes)
                continue
            agreement = _agreement(tokens[i - 1] if i else "", tokens[i + 1] if i + 1 < len(tokens) else "")
            tokens[i] = _fix_token(tok, lexicon, max_edit_distance, min_similarity, agreement, changes)
        out_lines.append(" ".join(tokens))
    return "\n".join(out_lines), changes


def _expand(token: str, following: str, lexicon: Lexicon, changes: list[Change]) -> str:
    """Spell out an abbreviation; its period stays when it also ends the sentence."""
    full = _apply_case(token[:-1], lexicon.abbreviations[token.lower()], stray=False)
    # a capital after it opens a new sentence, unless it is a lone letter of the scale ("Dens. B.")
    if not following or (following[0].isupper() and len(following.rstrip(".,;:)")) > 1):
        full += "."
    changes.append(Change(token, full, "abbreviation"))
    return full


_FEMININE_ENDINGS = ("a", "as", "dad", "dades", "ción", "ciones", "sión", "siones", "ez")
_MASCULINE_ENDINGS = ("o", "os", "el", "un")
_SINGULAR_NEXT = frozenset({"derecha", "izquierda", "derecho", "izquierdo"})


def _agreement(previous: str, following: str) -> Agreement:
    """Number/gender hint for a word from its neighbours, for breaking ties between inflected candidates.

    The previous word is used only when it ends a sentence-internal phrase (no punctuation after it) and
    is long enough to carry an ending (determiners 'la', 'las', 'el', 'los' included; 'de', 'con' are not).
    """
    prev = previous.lower()
    plural = feminine = None
    if prev and prev[-1].isalpha() and prev not in {"de", "con", "en", "por", "sin", "y", "o", "que", "se"}:
        plural = prev.endswith("s")
        if prev.endswith(_FEMININE_ENDINGS):
            feminine = True
        elif prev.endswith(_MASCULINE_ENDINGS):
            feminine = False
    nxt = following.lower().strip(",.;:")
    if nxt in _SINGULAR_NEXT:  # 'mama derecha': the noun before a laterality adjective agrees with it
        plural, feminine = False, nxt.endswith("a")
    return Agreement(plural, feminine) if (plural, feminine) != (None, None) else NO_AGREEMENT


def _unicode_changes(text: str, changes: list[Change]) -> str:
    """NFC (one 'unicode' change per recomposed word), line endings, odd spaces and quotes (one each)."""
    nfc = unicodedata.normalize("NFC", text)
    changes.extend(
        Change(b, a, "unicode") for b, a in zip(text.split(" "), nfc.split(" "), strict=True) if b != a
    )
    if "\r" in nfc:
        changes.append(Change("\\r\\n", "\\n", "spacing"))
        nfc = nfc.replace("\r\n", "\n").replace("\r", "\n")
    for m in re.finditer("[" + re.escape("".join(chr(c) for c in _ODD_CHARS)) + "]", nfc):
        left = re.search(r"\S*$", nfc[: m.start()]).group(0)
        right = re.match(r"\S*", nfc[m.end() :]).group(0)
        repl = _ODD_CHARS[ord(m.group(0))]
        changes.append(Change(left + m.group(0) + right, left + repl + right, "unicode"))
    return nfc.translate(_ODD_CHARS)


def _fix_spacing(line: str, changes: list[Change]) -> str:
    for pattern, replacement in _SPACING_RULES:

        def log(m: re.Match, repl: str = replacement) -> str:
            start, end = m.start(), m.end()
            left = re.search(r"\S*$", m.string[:start]).group(0)
            right = re.match(r"\S*", m.string[end:]).group(0)
            changes.append(Change(left + m.group(0) + right, left + repl + right, "spacing"))
            return repl

        line = pattern.sub(log, line)
    return line


def is_protected(token: str) -> bool:
    """Whole-token protection: placeholders, anything with a digit, BI-RADS."""
    return bool(_PLACEHOLDER.search(token) or _BIRADS.search(token) or any(c.isdigit() for c in token))


def _fix_token(
    token: str, lexicon: Lexicon, max_dist: int, min_sim: float, agreement: Agreement, changes: list[Change]
) -> str:
    if not token or is_protected(token):
        return token
    rules: set[str] = set()

    def fix(m: re.Match) -> str:
        new, applied = _decide(m.group(0), lexicon, max_dist, min_sim, agreement)
        rules.update(applied)
        return new

    fixed = _WORD.sub(fix, token)
    if fixed != token:
        changes.append(Change(token, fixed, "+".join(sorted(rules))))
    return fixed


def _decide(
    word: str, lexicon: Lexicon, max_dist: int, min_sim: float, agreement: Agreement
) -> tuple[str, list[str]]:
    """(new word, rules applied) for one alphabetic word."""
    low = word.lower()
    if low in PROTECTED_WORDS or len(word) < 2:
        return word, []
    if word.isupper() and len(word) <= MAX_ACRONYM and low not in lexicon:
        return word, []  # ACR, MLO, NHC ...
    stray = not word.isupper() and any(c.isupper() for c in word[1:])
    if low in lexicon:
        target, rules = low, []
    elif lexicon.is_spanish(low):
        # a real Spanish word is never corrected; only a lexicon word's missing accent is restored
        if (accented := lexicon.accent_of(low)) is None:
            return (_apply_case(word, low, stray), ["case"]) if stray else (word, [])
        target, rules = accented, ["accent"]
    elif (
        len(word) >= MIN_CORRECTABLE
        and (fix := lexicon.correct(low, max_dist, min_sim, agreement)) is not None
    ):
        target, rules = fix.target, [fix.rule]
    else:
        return word, []  # unknown word (a name, a rare term): left as written
    if stray:
        rules = ["case", *rules]
    return _apply_case(word, target, stray), rules


def _apply_case(original: str, target: str, stray: bool) -> str:
    if original.isupper() and len(original) > 1 and not stray:
        return target.upper()
    if original[0].isupper():
        return target[0].upper() + target[1:]
    return target


CORRECTION_COLUMNS = ["exam_id", "original", "corrected", "rule"]


def normalize_reports(
    reports: pd.DataFrame, lexicon: Lexicon, *, max_edit_distance: int = 2, min_similarity: float = 80.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Normalise the `text` column of a reports table; return it and the corrections log.

    Rows keep every other column (given_label passes through); empty texts, and texts that are not Spanish
    report text at all (binary, far too long, another language: see screen.py), pass unchanged for the label
    stage to exclude with the screen's reason.
    """
    out = reports.copy()
    texts, log_rows = [], []
    for exam_id, text in tqdm(
        zip(reports["exam_id"], reports["text"], strict=True),
        total=len(reports),
        desc="normalize",
        unit="report",
    ):
        if screen_text(text) is not None:
            texts.append(text)
            continue
        fixed, changes = normalize_text(
            text, lexicon, max_edit_distance=max_edit_distance, min_similarity=min_similarity
        )
        texts.append(fixed)
        log_rows.extend((exam_id, c.original, c.corrected, c.rule) for c in changes)
    out["text"] = texts
    return out, pd.DataFrame(log_rows, columns=CORRECTION_COLUMNS)

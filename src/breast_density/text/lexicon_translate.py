"""Lexicon backend: phrase-based Spanish -> English translation from a curated phrase table.

Greedy longest match, left to right, over tokens (words, numbers, placeholders, punctuation): at each word the
longest table phrase starting there is replaced by its English side; words the table does not know (names,
ACR letters, acronyms) pass through, and so do numbers, de-identification placeholders, punctuation and line
breaks. Deterministic and offline; adding vocabulary means adding lines to the TSV.
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from breast_density.text.lexicon import read_data_text

log = logging.getLogger(__name__)

PHRASES_RESOURCE = "phrases_es_en.tsv"
_TOKEN = re.compile(
    r"(?P<placeholder>\[[A-ZÁÉÍÓÚÑ_]+\])"
    r"|(?P<number>\d+(?:[.,:/]\d+)*)"
    r"|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)*)"
    r"|(?P<space>\s+)"
    r"|(?P<punct>.)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    text: str
    kind: str  # placeholder | number | word | space | punct


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(0), m.lastgroup or "punct") for m in _TOKEN.finditer(text)]


def _key(tokens: list[Token]) -> tuple[str, ...]:
    return tuple(t.text.lower() for t in tokens if t.kind != "space")


@dataclass(frozen=True)
class PhraseTable:
    phrases: dict[tuple[str, ...], str]
    max_len: int

    def __len__(self) -> int:
        return len(self.phrases)


def read_phrase_table(path: str | Path | None = None) -> PhraseTable:
    """Load a phrase table TSV (Spanish TAB English, '#' comments); default: the shipped table."""
    text, source = read_data_text(path, PHRASES_RESOURCE, what="phrase table")
    phrases: dict[tuple[str, ...], str] = {}
    lines = (ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))
    for number, row in enumerate(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
        if len(row) != 2:
            raise ValueError(f"{source}: entry {number}: expected 'spanish<TAB>english', got {row!r}")
        key = _key(tokenize(unicodedata.normalize("NFC", row[0].strip())))
        if not key:
            raise ValueError(f"{source}: entry {number}: empty Spanish phrase")
        if key in phrases:
            raise ValueError(f"{source}: entry {number}: duplicate Spanish phrase {row[0]!r}")
        phrases[key] = row[1].strip()
    return PhraseTable(phrases, max(len(k) for k in phrases))


@lru_cache(maxsize=4)
def default_phrase_table() -> PhraseTable:
    return read_phrase_table()


def translate_text(text: str, table: PhraseTable) -> tuple[str, int]:
    """English text and the number of Spanish words the table did not know (passed through)."""
    tokens = tokenize(unicodedata.normalize("NFC", text))
    content = [i for i, t in enumerate(tokens) if t.kind != "space"]
    out: list[str] = []
    unknown = 0
    pos = 0  # index into `content`
    last = 0  # index into `tokens` up to which the output is written
    capital = False  # a dropped capitalised word ('Se ...') hands its capital to what follows
    while pos < len(content):
        start = content[pos]
        if tokens[start].kind != "word":
            pos += 1
            continue
        match_len, english = (
            (0, "") if _is_letter_grade(tokens, content, pos) else _longest(tokens, content, pos, table)
        )
        if match_len == 0:
            if capital:
                word = tokens[start].text
                tokens[start] = Token(word[0].upper() + word[1:], "word")
            unknown += 1
            pos += 1
            capital = False
            continue
        end = content[pos + match_len - 1]
        words = [t for t in tokens[start : end + 1] if t.kind == "word"]
        out.append("".join(t.text for t in tokens[last:start]))
        english = _with_case(words, english)
        if capital and english:
            english, capital = english[0].upper() + english[1:], False
        elif not english:
            capital = words[0].text[0].isupper()
        out.append(english)
        last = end + 1
        pos += match_len
    out.append("".join(t.text for t in tokens[last:]))
    return _tidy("".join(out)), unknown


# Words after which a lone letter is a grade ('tipo A', 'categoría b'), never the preposition 'a' or 'y'/'o'.
_GRADE_CONTEXT = frozenset({"tipo", "acr", "categoría", "categoria", "grado", "clase", "densidad", "patrón"})


def _is_letter_grade(tokens: list[Token], content: list[int], pos: int) -> bool:
    """A one-letter word that names a class: after a grade word, or a capital inside a sentence."""
    word = tokens[content[pos]].text
    if len(word) != 1:
        return False
    prev = tokens[content[pos - 1]] if pos else None
    if prev is None or (prev.kind == "punct" and prev.text in ".:;\n"):
        return False  # sentence-initial 'A' is the preposition
    return word.isupper() or (prev.kind == "word" and prev.text.lower() in _GRADE_CONTEXT)


def _longest(tokens: list[Token], content: list[int], pos: int, table: PhraseTable) -> tuple[int, str]:
    for n in range(min(table.max_len, len(content) - pos), 0, -1):
        span = [tokens[i] for i in content[pos : pos + n]]
        if span[-1].kind == "punct" and n > 1:
            continue  # a phrase ends on a word, so trailing punctuation stays in the text
        english = table.phrases.get(_key(span))
        if english is not None:
            return n, english
    english = inflected(tokens[content[pos]].text.lower(), table)
    return (1, english) if english is not None else (0, "")


# English words that take no plural: adjectives by their ending ("fibroglandular", "dense", "scattered").
_ADJECTIVE_END = (
    "al", "ar", "ous", "ic", "ed", "ive", "ent", "ant", "ble", "ful", "ile", "ine", "ense", "ate"
)  # fmt: skip


def inflected(word: str, table: PhraseTable) -> str | None:
    """English for an inflected form the table lacks, from the form it has: plural ('nódulos' from
    'nódulo'), feminine ('densa' from 'denso'), adverbs in -mente ('claramente': 'claro' -> 'clearly')."""
    phrases = table.phrases
    if word.endswith("mente") and len(word) > 7:
        base = word[:-5]
        for stem in (base, base[:-1] + "o" if base.endswith("a") else base):
            if (english := phrases.get((stem,))) and " " not in english:
                return _adverb(english)
        return None
    singulars = [word[:-2], word[:-1]] if word.endswith("es") else [word[:-1]] if word.endswith("s") else []
    for singular in singulars:
        for form in (singular, _masculine(singular)):
            if form and (english := phrases.get((form,))) is not None:
                return english if english.endswith(_ADJECTIVE_END) or " " in english else _plural(english)
    masculine = _masculine(word)
    return phrases.get((masculine,)) if masculine else None


def _masculine(word: str) -> str:
    return word[:-1] + "o" if word.endswith("a") and len(word) > 3 else ""


def _plural(english: str) -> str:
    if not english:
        return english
    if english.endswith(("s", "x", "ch", "sh")):
        return english + "es"
    if english.endswith("y") and english[-2:-1] not in "aeiou":
        return english[:-1] + "ies"
    return english + "s"


def _adverb(adjective: str) -> str:
    if adjective.endswith("le"):
        return adjective[:-1] + "y"
    if adjective.endswith("y"):
        return adjective[:-1] + "ily"
    if adjective.endswith("ic"):
        return adjective + "ally"
    return adjective + "ly"


def _with_case(words: list[Token], english: str) -> str:
    if not english:
        return english
    # An all-capital title stays in capitals; a lone short acronym (NHC, ACR) does not force them.
    if all(w.text.isupper() for w in words) and (len(words) > 1 or len(words[0].text) > 3):
        return english.upper()
    if words[0].text[0].isupper():
        return english[0].upper() + english[1:]
    return english


def _tidy(text: str) -> str:
    """Close the gaps left by dropped words."""
    text = re.sub(r"[ \t]{2,}", " ", text)
    return re.sub(r"(?m)^[ \t]+| +(?=[,.;:)])", "", text)


def translate(texts: list[str], params: object | None = None) -> list[str]:
    """Backend entry point of the translation registry (the lexicon backend has no settings)."""
    table = default_phrase_table()
    out, unknown, words = [], 0, 0
    for text in texts:
        english, n_unknown = translate_text(text, table)
        out.append(english)
        unknown += n_unknown
        words += sum(t.kind == "word" for t in tokenize(text))
    if words:
        log.info("lexicon translation: %d of %d Spanish words not in the phrase table (kept)", unknown, words)
    return out

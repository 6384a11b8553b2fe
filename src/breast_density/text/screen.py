"""Input that is not report text at all gets a named exclusion reason before any text stage works on it."""

from __future__ import annotations

import re

from breast_density.text.spanish_words import english_frequencies, spanish_frequencies

EMPTY = "empty_text"
NOT_TEXT = "not_text"
TOO_LONG = "text_too_long"
NOT_SPANISH = "not_spanish"

MAX_REPORT_CHARS = 20_000  # a long mammography report is a few thousand characters
MAX_ODD_SHARE = 0.01  # control characters and U+FFFD (undecodable bytes) per character
MIN_WORDS_FOR_LANGUAGE = 8  # shorter snippets ("ACR C.", "Breast density B según ACR") are not judged
MIN_SPANISH_SHARE = 0.3  # of the words; mixed Spanish/English reports are well above it, English text below
# Function words of Spanish that French, German or English text does not use; long Spanish text has some.
SPANISH_FUNCTION_WORDS = frozenset(
    {"el", "los", "las", "del", "al", "y", "con", "sin", "se", "por", "para", "una", "es", "son", "su", "sus",
     "lo", "muy", "como", "más", "pero", "ni", "ambas", "ambos", "mama", "mamas", "hallazgos"}
)  # fmt: skip
MIN_WORDS_FOR_FUNCTION_WORDS = 20
MIN_FUNCTION_SHARE = 0.04
ENGLISH_LEANING = 10.0  # a word this many times more frequent in English than in Spanish is not Spanish

_WORD = re.compile(r"[^\W\d_]{2,}")
_ODD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")


def screen_text(text: str) -> str | None:
    """The exclusion reason for a text no density statement can be read from, or None when it is fine."""
    if not text or not text.strip():
        return EMPTY
    if len(text) > MAX_REPORT_CHARS:
        return TOO_LONG
    if "\x00" in text or len(_ODD.findall(text)) > MAX_ODD_SHARE * len(text):
        return NOT_TEXT
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return NOT_TEXT
    if len(words) >= MIN_WORDS_FOR_LANGUAGE and spanish_share(words) < MIN_SPANISH_SHARE:
        return NOT_SPANISH
    function_words = sum(w in SPANISH_FUNCTION_WORDS for w in words)
    if len(words) >= MIN_WORDS_FOR_FUNCTION_WORDS and function_words < MIN_FUNCTION_SHARE * len(words):
        return NOT_SPANISH
    return None


def spanish_share(words: list[str]) -> float:
    """Share of the words that are Spanish: in the Spanish dictionary and not far more frequent in English
    ('control', 'acr' count; 'breasts', 'extremely' do not). Words of neither dictionary count against."""
    es, en = spanish_frequencies(), english_frequencies()
    spanish = sum(w in es and en.get(w, 0.0) < ENGLISH_LEANING * es[w] for w in words)
    return spanish / len(words) if words else 0.0

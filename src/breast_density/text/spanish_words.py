"""The Spanish dictionary the normaliser checks words against: wordfreq's large Spanish list.

wordfreq merges many corpora (subtitles, Wikipedia, web text, books) into one frequency list with every
inflected form (plurals, feminines, verb forms), which is what a report's words are; a list of lemmas
would flag "densas" or "observan" as misspelt. Its long tail also holds frequent misspellings, so a word
counts as Spanish only above MIN_ZIPF (zipf = log10 of the frequency per billion words).
"""

from __future__ import annotations

from functools import lru_cache

MIN_ZIPF = 1.5  # "nodulos" (zipf 1.1, a common accent slip) is below it; rare real words are above it


@lru_cache(maxsize=1)
def spanish_frequencies() -> dict[str, float]:
    """word -> frequency (fraction of running words) for words at or above MIN_ZIPF."""
    from wordfreq import get_frequency_dict

    floor = 10 ** (MIN_ZIPF - 9)
    return {w: f for w, f in get_frequency_dict("es", wordlist="large").items() if f >= floor}


@lru_cache(maxsize=1)
def english_frequencies() -> dict[str, float]:
    """English counterpart, to tell an English text from a Spanish one (see screen.py)."""
    from wordfreq import get_frequency_dict

    floor = 10 ** (MIN_ZIPF - 9)
    return {w: f for w, f in get_frequency_dict("en", wordlist="large").items() if f >= floor}

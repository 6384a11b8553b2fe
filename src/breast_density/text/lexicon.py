"""The Spanish breast-imaging lexicon (resources/lexicon_es.tsv) and word-level correction against it.

A word is a correction candidate only when it is neither a lexicon word nor a word of the Spanish dictionary
(spanish_words.py): 'grado' is a real word, so it never becomes the lexicon's 'graso'. The one change made to
a real word is restoring the accent of a lexicon word whose accented spelling is far more frequent
(ACCENT_RATIO), because accent-free spellings ('patron', 'nodulos') are common slips that the dictionary's
web sources also contain.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

LEXICON_RESOURCE = "lexicon_es.tsv"
ABBREVIATIONS_RESOURCE = "abbreviations_es.tsv"
ACCENT_RATIO = 10.0  # accented lexicon spelling this many times more frequent than the written one


def strip_accents(word: str) -> str:
    """Remove acute accents and diaeresis but keep ñ (a letter of its own in Spanish)."""
    decomposed = unicodedata.normalize("NFD", word)
    kept = "".join(c for c in decomposed if unicodedata.category(c) != "Mn" or c == "\u0303")
    return unicodedata.normalize("NFC", kept)


@dataclass(frozen=True)
class Agreement:
    """Number and gender a word should agree with, read from its neighbours (None = unknown)."""

    plural: bool | None = None
    feminine: bool | None = None

    def score(self, word: str) -> int:
        """How many of the known features the ending of `word` agrees with."""
        bare = word.removesuffix("s")
        score = 0
        if self.plural is not None and bare[-1:] in "aoe":
            score += (word.endswith("s")) == self.plural
        if self.feminine is not None and bare[-1:] in "ao":
            score += (bare.endswith("a")) == self.feminine
        return score


NO_AGREEMENT = Agreement()


@dataclass(frozen=True)
class Correction:
    target: str  # corrected lower-case word
    rule: str  # 'accent' (only accents restored) or 'spelling'


@dataclass
class Lexicon:
    """Lower-case words with a frequency class and a density-vocabulary flag."""

    freq: dict[str, int]
    density: frozenset[str]
    abbreviations: dict[str, str] = field(default_factory=dict)  # 'dcha.' -> 'derecha'
    dictionary: Mapping[str, float] = field(default_factory=dict)  # Spanish word -> corpus frequency
    _bare: dict[str, list[str]] = field(init=False, repr=False)  # accent-free form -> words
    _bare_keys: list[str] = field(init=False, repr=False)
    _cache: dict[tuple[str, int, float, Agreement], Correction | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bare = {}
        for word in self.freq:
            self._bare.setdefault(strip_accents(word), []).append(word)
        self._bare_keys = list(self._bare)
        self._cache = {}

    def __contains__(self, word: str) -> bool:
        return word in self.freq

    def __len__(self) -> int:
        return len(self.freq)

    def is_spanish(self, word: str) -> bool:
        """A lower-case word of the lexicon or of the Spanish dictionary: never a correction candidate."""
        return word in self.freq or word in self.dictionary

    def accent_of(self, word: str) -> str | None:
        """The accented lexicon spelling of a real word written without its accent, when that spelling is
        ACCENT_RATIO times more frequent ('patron' -> 'patrón'); None otherwise ('esta' stays)."""
        if word in self.freq or strip_accents(word) != word:
            return None  # only a word written without accents gets one
        readings = [r for r in self._bare.get(word, []) if r != word]
        if len(readings) != 1:
            return None
        accented = self.dictionary.get(readings[0], 0.0)
        return readings[0] if accented >= ACCENT_RATIO * self.dictionary.get(word, 0.0) > 0 else None

    def correct(
        self, word: str, max_edit_distance: int, min_similarity: float, agreement: Agreement = NO_AGREEMENT
    ) -> Correction | None:
        """Best lexicon word for an unknown lower-case `word`, or None when no candidate is close enough.

        Accents are restored first when the accent-free spelling has exactly one accented reading. Otherwise
        the candidates are the lexicon words within `max_edit_distance` (optimal string alignment, so a
        transposition counts once) of the accent-free spelling whose normalised similarity reaches
        `min_similarity` (0-100); the closest wins, then the more frequent. Between equally good inflections
        of one word, the one agreeing in number and gender with its neighbours wins (`agreement`: 'grasi'
        after 'tejido' is 'graso'). Any other tie is left uncorrected (ambiguous).
        """
        key = (word, max_edit_distance, min_similarity, agreement)
        if key not in self._cache:
            self._cache[key] = self._correct(word, max_edit_distance, min_similarity, agreement)
        return self._cache[key]

    def _correct(
        self, word: str, max_edit_distance: int, min_similarity: float, agreement: Agreement
    ) -> Correction | None:
        bare = strip_accents(word)
        if bare in self._bare:
            readings = self._bare[bare]
            return Correction(readings[0], "accent") if len(readings) == 1 else None
        matches = process.extract(
            bare, self._bare_keys, scorer=OSA.distance, score_cutoff=max_edit_distance, limit=None
        )
        ranked = []
        for candidate, distance, _ in matches:
            if OSA.normalized_similarity(bare, candidate) * 100 < min_similarity:
                continue
            ranked.extend((distance, -self.freq[reading], reading) for reading in self._bare[candidate])
        if not ranked:
            return None
        ranked.sort()
        best = [r[2] for r in ranked if r[:2] == ranked[0][:2]]
        if len(best) == 1:
            return Correction(best[0], "spelling")
        # Agreement can only choose between inflections of one word (graso/grasa); between different words
        # the one far more frequent in general Spanish wins, else the word is left alone (ambiguous).
        if len({_stem(w) for w in best}) > 1:
            by_freq = sorted(best, key=lambda w: -self.dictionary.get(w, 0.0))
            top, runner_up = (self.dictionary.get(w, 0.0) for w in by_freq[:2])
            return Correction(by_freq[0], "spelling") if top > 0 and top >= ACCENT_RATIO * runner_up else None
        scores = sorted(((agreement.score(w), w) for w in best), reverse=True)
        return Correction(scores[0][1], "spelling") if scores[0][0] > scores[1][0] else None


def _stem(word: str) -> str:
    """The word without its number and gender ending (densas, denso -> dens)."""
    bare = strip_accents(word).removesuffix("s")
    return bare[:-1] if bare[-1:] in ("a", "o", "e") else bare


def read_data_text(path: str | Path | None, resource: str, what: str = "file") -> tuple[str, str]:
    """(text, source name) of a user's data file, or of the shipped resource when `path` is None."""
    if path is None:
        text = resources.files("breast_density.resources").joinpath(resource).read_text("utf-8")
        return text, f"breast_density/resources/{resource}"
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    return path.read_text("utf-8"), str(path)


def _read_tsv(path: str | Path | None, resource: str, columns: list[str]) -> tuple[list[dict], str]:
    text, source = read_data_text(path, resource)
    rows = csv.DictReader(
        (ln for ln in text.splitlines() if ln and not ln.startswith("#")),
        delimiter="\t",
        quoting=csv.QUOTE_NONE,
    )
    if rows.fieldnames != columns:
        raise ValueError(f"{source}: expected columns {', '.join(columns)}; got {rows.fieldnames}")
    return list(rows), source


def read_lexicon(
    path: str | Path | None = None,
    abbreviations: str | Path | None = None,
    dictionary: Mapping[str, float] | None = None,
) -> Lexicon:
    """Load a lexicon TSV (word, freq, density; '#' comment lines) and an abbreviation TSV
    (abbreviation, expansion); default: the shipped Spanish files. `dictionary`: the Spanish words that are
    never corrected (none: every non-lexicon word is a candidate)."""
    rows, source = _read_tsv(path, LEXICON_RESOURCE, ["word", "freq", "density"])
    freq: dict[str, int] = {}
    density = set()
    for line, row in enumerate(rows, start=2):
        word = unicodedata.normalize("NFC", (row["word"] or "").strip().lower())
        try:
            freq[word] = int(row["freq"])
            is_density = int(row["density"]) == 1
        except (TypeError, ValueError):
            raise ValueError(f"{source}: row {line}: freq and density must be integers") from None
        if not word:
            raise ValueError(f"{source}: row {line}: empty word")
        if is_density:
            density.add(word)
    abbr_rows, abbr_source = _read_tsv(abbreviations, ABBREVIATIONS_RESOURCE, ["abbreviation", "expansion"])
    abbr = {}
    for line, row in enumerate(abbr_rows, start=2):
        short, full = (row["abbreviation"] or "").strip().lower(), (row["expansion"] or "").strip().lower()
        if not short.endswith(".") or not full:
            raise ValueError(
                f"{abbr_source}: row {line}: need an abbreviation ending in '.' and its expansion"
            )
        abbr[unicodedata.normalize("NFC", short)] = unicodedata.normalize("NFC", full)
    return Lexicon(freq, frozenset(density), abbr, dict(dictionary or {}))


@lru_cache(maxsize=4)
def default_lexicon() -> Lexicon:
    """The shipped lexicon with wordfreq's Spanish dictionary."""
    from breast_density.text.spanish_words import spanish_frequencies

    return read_lexicon(dictionary=spanish_frequencies())

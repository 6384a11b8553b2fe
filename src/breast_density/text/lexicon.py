"""The Spanish breast-imaging lexicon (resources/lexicon_es.tsv) and word-level correction against it."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

LEXICON_RESOURCE = "lexicon_es.tsv"
ABBREVIATIONS_RESOURCE = "abbreviations_es.tsv"


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
        # Agreement can only choose between inflections of one word (graso/grasa), never between words.
        if len({_stem(w) for w in best}) > 1:
            return None
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


def read_lexicon(path: str | Path | None = None, abbreviations: str | Path | None = None) -> Lexicon:
    """Load a lexicon TSV (word, freq, density; '#' comment lines) and an abbreviation TSV
    (abbreviation, expansion); default: the shipped Spanish files."""
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
    return Lexicon(freq, frozenset(density), abbr)


@lru_cache(maxsize=4)
def default_lexicon() -> Lexicon:
    return read_lexicon()

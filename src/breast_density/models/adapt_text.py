"""Text side of CLIP adaptation: the English findings of a report, optionally without the density sentence.

Reports keep their de-identification placeholders ([NOMBRE], [FECHA], ...); only the findings section is used
(indication and technique say nothing about the image). A report without recognised section headers is used
whole. Dropping the density sentence measures how much the explicit statement teaches the model.
"""

from __future__ import annotations

import re

from breast_density.text.density_extraction import find_mentions, sections
from breast_density.text.label_en import ENGLISH

_SENTENCE_END = re.compile(r"[.!?;\n]\s|\n")
_SPACES = re.compile(r"\s+")


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    left = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        left = m.end()
    right = _SENTENCE_END.search(text, end)
    return left, right.end() if right else len(text)


def without_density_sentences(text: str) -> str:
    """`text` with every sentence that mentions breast composition removed."""
    spans = sorted({_sentence_bounds(text, m.start, m.end) for m in find_mentions(text, ENGLISH)})
    kept, position = [], 0
    for start, end in spans:
        if start >= position:
            kept.append(text[position:start])
            position = end
    kept.append(text[position:])
    return "".join(kept)


def findings_text(report: str, *, drop_density_sentence: bool) -> str:
    """The findings section of an English report on one line ("" for an empty report)."""
    report = report or ""
    parts = sections(report, ENGLISH)
    ranges = parts.get("findings", []) if parts else [(0, len(report))]
    text = " ".join(report[a:b] for a, b in ranges) if ranges else report
    if drop_density_sentence:
        text = without_density_sentences(text)
    return _SPACES.sub(" ", text).strip(" :\n")

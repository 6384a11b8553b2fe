"""Scores of the text stages on a hand-written development set (tests/data/density_dev_es.tsv).

Each sentence is scored twice: alone, and as the findings of a short report with INDICACIÓN / HALLAZGOS /
IMPRESIÓN sections and a BI-RADS assessment category (which must never label the density). A sentence is
labelled A-D (it states that one category), ``none`` (no density statement) or ``ambiguous`` (density talked
about without one category: a range, the scale listed, a bare "densas", a negation).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from breast_density.text.labeling import class_mapper
from breast_density.text.report_text import TextStages
from breast_density.text.spanish_words import english_frequencies, spanish_frequencies

LETTERS = ("A", "B", "C", "D")
NO_CATEGORY = ("none", "ambiguous")
COLUMNS = ["id", "label", "style", "text"]

# Report frames: (indication, findings header, impression with the assessment category).
_FRAMES = (
    ("INDICACIÓN: Cribado poblacional.", "HALLAZGOS:", "IMPRESIÓN: Sin hallazgos sospechosos. BI-RADS {k}."),
    ("Indicación: control anual.", "Hallazgos:", "Impresión: categoría BI-RADS {k}."),
    (
        "INDICACIÓN: Revisión.",
        "HALLAZGOS MAMOGRÁFICOS:",
        "IMPRESIÓN DIAGNÓSTICA: BI-RADS {k}. Control habitual.",
    ),
)
_WORD = re.compile(r"[^\W\d_]{2,}")


def read_dev_set(path: Path) -> pd.DataFrame:
    """The development set TSV ('#' comment lines); a clear error for a bad row."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: development set not found")
    lines = [ln for ln in path.read_text("utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows or rows[0] != COLUMNS:
        raise ValueError(f"{path}: expected columns {COLUMNS}, got {rows[0] if rows else 'nothing'}")
    frame = pd.DataFrame(rows[1:], columns=COLUMNS)
    bad = frame[~frame["label"].isin(LETTERS + NO_CATEGORY)]
    if len(bad):
        raise ValueError(f"{path}: row {bad.iloc[0]['id']!r}: label must be one of {LETTERS + NO_CATEGORY}")
    if frame["id"].duplicated().any():
        raise ValueError(f"{path}: duplicate id {frame['id'][frame['id'].duplicated()].iloc[0]!r}")
    return frame


def embed_in_report(sentence: str, index: int) -> str:
    """The sentence as the findings of a report; the frame and the assessment category (1-3) rotate."""
    indication, header, impression = _FRAMES[index % len(_FRAMES)]
    return f"{indication}\n{header} {sentence}\n{impression.format(k=1 + index % 3)}"


def score(expected: list[str], labels: list[str | None], to_class) -> dict:
    """Per-class recall, wrong letters and abstention for parallel lists of expected labels and outcomes."""
    out: dict = {"recall_per_class": {}, "wrong_letters": 0}
    correct = statements = 0
    for letter in LETTERS:
        got = [g for e, g in zip(expected, labels, strict=True) if e == letter]
        hits = sum(g == to_class(letter) for g in got)
        out["wrong_letters"] += sum(g is not None and g != to_class(letter) for g in got)
        out["recall_per_class"][letter] = round(hits / len(got), 4) if got else None
        correct, statements = correct + hits, statements + len(got)
    out["statement_correct"] = round(correct / statements, 4) if statements else None
    for kind in NO_CATEGORY:
        got = [g for e, g in zip(expected, labels, strict=True) if e == kind]
        out[f"{kind}_abstained"] = round(sum(g is None for g in got) / len(got), 4) if got else None
    no_cat = [g for e, g in zip(expected, labels, strict=True) if e in NO_CATEGORY]
    out["no_category_abstained"] = round(sum(g is None for g in no_cat) / len(no_cat), 4) if no_cat else None
    return out


def untranslated_share(spanish: list[str], english: list[str]) -> float | None:
    """Share of the Spanish words whose translation still holds a Spanish word (more frequent in Spanish
    than in English, so 'ACR', names and words both languages share do not count)."""
    es, en = spanish_frequencies(), english_frequencies()
    words = sum(len(_WORD.findall(t)) for t in spanish)
    left = sum(
        1 for t in english for w in _WORD.findall(t.lower()) if es.get(w, 0.0) > en.get(w, 0.0) and len(w) > 2
    )
    return round(left / words, 4) if words else None


def score_dev_set(frame: pd.DataFrame, stages: TextStages) -> dict:
    """Scores alone and in a report, the share of words left untranslated, and the misses by id."""
    to_class = class_mapper(stages.params.class_names, stages.params.data.label_map)
    expected = frame["label"].tolist()
    alone = stages.run(list(zip(frame["id"], frame["text"], strict=True)))
    framed = stages.run(
        [(i, embed_in_report(t, n)) for n, (i, t) in enumerate(zip(frame["id"], frame["text"], strict=True))]
    )
    result: dict = {
        "sentences": len(frame),
        "per_label": frame["label"].value_counts().sort_index().to_dict(),
    }
    for name, results in (("alone", alone), ("in_report", framed)):
        labels = [r.decision.label for r in results]
        result[name] = score(expected, labels, to_class)
        result[name]["misses"] = [
            r.id
            for r, e in zip(results, expected, strict=True)
            if (r.decision.label != to_class(e) if e in LETTERS else r.decision.label is not None)
        ]
    result["untranslated_share"] = untranslated_share([r.text_es for r in alone], [r.text_en for r in alone])
    return result

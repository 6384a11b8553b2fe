"""Every figure the README quotes from a demo run agrees with the committed metrics files.

Whoever commits a new demo run (`dvc repro` + the metrics/ files) sees this test fail on each quoted figure
that moved, with the value to write. A check listed here whose sentence left the README fails too, so a
figure cannot silently stop being checked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from breast_density.evaluation.arm_metrics import arm_summaries

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBER = r"-?[\d,]+(?:\.\d+)?"


def _metric(name: str, *keys: str) -> float:
    node = json.loads((ROOT / "metrics" / name).read_text(encoding="utf-8"))
    for key in keys:
        node = node[key]
    return float(node)


def _agrees(quoted: str, value: float, scale: float = 1.0) -> bool:
    """`quoted` is `value` * scale written with the decimals the README uses."""
    text = quoted.replace(",", "").replace("−", "-")
    decimals = len(text.partition(".")[2])
    return float(text) == pytest.approx(round(value * scale, decimals), abs=1e-12)


# (what, pattern with one group per figure, [(metrics file, key path, scale), ...] per group)
SENTENCES = [
    (
        "demo cohort size",
        rf"cohort, ({NUMBER}) exams \(({NUMBER}) DICOMs",
        [("cohort.json", ("exams",), 1), ("cohort.json", ("images",), 1)],
    ),
    (
        "balanced dataset and test split",
        rf"balanced to ({NUMBER}) images; test split of ({NUMBER})\s+images",
        [("split.json", ("images",), 1), ("split.json", ("test", "images"), 1)],
    ),
    (
        "vendor disagreement before/after harmonisation",
        rf"falls from ({NUMBER}) to ({NUMBER})\s+\(([−-]{NUMBER})%",
        [
            ("harmonize.json", ("vendor_disagreement_before",), 1),
            ("harmonize.json", ("vendor_disagreement_after",), 1),
            ("harmonize.json", ("disagreement_reduction",), -100),
        ],
    ),
]


@pytest.mark.parametrize("what,pattern,sources", SENTENCES, ids=[s[0] for s in SENTENCES])
def test_quoted_sentence_figures_match_the_metrics(what: str, pattern: str, sources: list) -> None:
    match = re.search(pattern, README)
    assert match, f"README no longer quotes the {what}; update SENTENCES in {Path(__file__).name}"
    for quoted, (name, keys, scale) in zip(match.groups(), sources, strict=True):
        value = _metric(name, *keys)
        assert _agrees(quoted, value, scale), (
            f"README quotes {quoted} for the {what}; metrics/{name} {'.'.join(keys)} gives {value * scale}"
        )


def _results_table() -> list[dict[str, str]]:
    """Rows of the README's demo results table (the one whose header has 'Accuracy [95% CI]')."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and "Accuracy [95% CI]" in line)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)))
    return rows


def _row_matches(row: dict[str, str], arm: dict) -> bool:
    accuracy = re.fullmatch(rf"({NUMBER}) \[({NUMBER}), ({NUMBER})\]", row["Accuracy [95% CI]"])
    assert accuracy, f"unreadable accuracy cell {row['Accuracy [95% CI]']!r}"
    pairs = [
        (row["n"], arm["n_images"]),
        *zip(accuracy.groups(), (arm["accuracy"], arm["accuracy_low"], arm["accuracy_high"]), strict=True),
        (row["Macro-F1"], arm["macro_f1"]),
        (row["κ quadratic"], arm["kappa"]),
    ]
    return all(value is not None and _agrees(quoted, value) for quoted, value in pairs)


def test_results_table_rows_match_an_evaluated_arm() -> None:
    arms = arm_summaries(json.loads((ROOT / "metrics/evaluate.json").read_text(encoding="utf-8")))
    rows = _results_table()
    assert rows, "README has no demo results table"
    for row in rows:
        matching = [name for name, arm in arms.items() if _row_matches(row, arm)]
        assert matching, (
            f"README row {row['Model']} / {row['Evaluated on']} matches no arm of evaluate.json: {arms}"
        )

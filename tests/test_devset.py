"""The text stages on the hand-written development set (tests/data/density_dev_es.tsv), alone and as the
findings of a report: per-class recall, wrong letters and abstention against the acceptance targets."""

from __future__ import annotations

from pathlib import Path

import pytest

from breast_density import paths
from breast_density.params import parse_params
from breast_density.text.devset import LETTERS, embed_in_report, read_dev_set, score, score_dev_set
from breast_density.text.report_text import TextStages

DEV_SET = Path(__file__).parent / "data" / paths.DEV_SET.name


@pytest.fixture(scope="module")
def scores() -> dict:
    return score_dev_set(read_dev_set(DEV_SET), TextStages(parse_params({})))


def test_dev_set_is_large_and_covers_every_label_and_style() -> None:
    frame = read_dev_set(DEV_SET)
    assert len(frame) >= 300
    counts = frame["label"].value_counts()
    assert all(counts[k] >= 40 for k in LETTERS) and counts["none"] + counts["ambiguous"] >= 100
    styles = set(frame["style"])
    assert {"telegraphic", "caps", "dictated", "abbreviated", "typo", "mixed", "regional", "negation",
            "per_side", "birads", "percent", "number_word", "punct_letter"} <= styles  # fmt: skip


@pytest.mark.parametrize("form", ["alone", "in_report"])
def test_dev_set_targets(scores: dict, form: str) -> None:
    result = scores[form]
    assert result["wrong_letters"] == 0, result["misses"]
    assert result["statement_correct"] >= 0.97, result["misses"]
    assert all(r >= 0.9 for r in result["recall_per_class"].values()), result["recall_per_class"]
    assert result["no_category_abstained"] >= 0.97, result["misses"]


def test_lexicon_translation_leaves_few_spanish_words(scores: dict) -> None:
    assert scores["untranslated_share"] < 0.05


def test_report_frame_carries_an_assessment_category() -> None:
    report = embed_in_report("Mamas densas.", 4)
    assert "HALLAZGOS" in report.upper() and "BI-RADS 2" in report and "Mamas densas." in report


def test_score_counts_wrong_letters_and_abstentions() -> None:
    result = score(["A", "B", "none", "ambiguous"], ["A", "C", None, "D"], lambda x: x)
    assert result["wrong_letters"] == 1 and result["recall_per_class"]["B"] == 0.0
    assert result["statement_correct"] == 0.5 and result["none_abstained"] == 1.0
    assert result["ambiguous_abstained"] == 0.0 and result["no_category_abstained"] == 0.5


def test_bad_dev_set_rows_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "dev.tsv"
    bad.write_text("id\tlabel\tstyle\ttext\nq1\tE\tplain\tMamas densas.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="q1"):
        read_dev_set(bad)

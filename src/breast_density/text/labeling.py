"""One label (or one exclusion reason) per report: English extractor first, Spanish as the cross-check,
given labels of label-only sources passed through, BI-RADS letters mapped onto the configured class set.

Cross-check policies (label.on_disagreement): ``exclude`` drops a report unless both extractors name the same
letter; ``either`` labels when one names a letter and the other names none, and drops the report when they
name different letters; ``english``/``spanish`` trust one extractor. Texts that are not report text at all
(empty, binary, too long, not Spanish) are excluded with the screen's reason before any extractor runs.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from tqdm import tqdm

from breast_density.text.density_extraction import (
    CONFLICT,
    DEFAULT_OPTIONS,
    GENERIC,
    NO_STATEMENT,
    Extraction,
    Options,
)
from breast_density.text.label_en import extract_en
from breast_density.text.label_es import extract_es
from breast_density.text.screen import screen_text

log = logging.getLogger(__name__)

Policy = Literal["exclude", "either", "english", "spanish"]
POLICIES = ("exclude", "either", "english", "spanish")

DISAGREE = "languages_disagree"
UNMAPPED = "class_not_configured"
UNKNOWN_GIVEN = "unknown_given_label"

# label_right / label_left: per-side classes when the report states them ('' otherwise); one row per exam.
LABEL_COLUMNS = ["exam_id", "patient_id", "label", "source", "rule", "span", "label_right", "label_left"]
EXCLUDED_COLUMNS = ["exam_id", "patient_id", "reason"]
REPORT_COLUMNS = ("exam_id", "patient_id", "text_es", "text_en", "given_label")
_BIRADS_NUMBER = {"A": "1", "B": "2", "C": "3", "D": "4"}


def class_mapper(class_names: Iterable[str], label_map: dict[str, str]) -> Callable[[str], str | None]:
    """Function from a BI-RADS letter (or a given label) to a configured class name, None when unmapped.

    A value that is itself a class name maps to itself; otherwise ``data.label_map`` is consulted,
    case-insensitively, under the letter and its ACR number ("C" or "3"), so a binary scheme is
    ``{A: non-dense, B: non-dense, C: dense, D: dense}``.
    """
    names = list(class_names)
    by_key = {str(k).strip().upper(): v for k, v in label_map.items()}

    def to_class(value: str) -> str | None:
        if value in names:
            return value
        key = value.strip().upper()
        for candidate in (key, _BIRADS_NUMBER.get(key), f"DENSITY {key}"):
            if candidate is not None and candidate in by_key:
                return by_key[candidate]
        return None

    return to_class


@dataclass(frozen=True)
class Decision:
    """The outcome for one report."""

    exam_id: str
    patient_id: str
    label: str | None  # class name
    source: str  # english / spanish / given ('' when excluded)
    rule: str
    span: str
    reason: str  # '' when labelled
    english: Extraction | None = None
    spanish: Extraction | None = None
    right: str | None = None  # per-side class names
    left: str | None = None


def combine(en: Extraction, es: Extraction, policy: Policy) -> tuple[Extraction, str] | str:
    """(winning extraction, source) or an exclusion reason.

    The two languages disagree when they do not name the same letter (one may name none). ``exclude``
    drops such reports; ``english``/``spanish`` take that extractor's outcome, including its exclusion.
    """
    if en.letter == es.letter:
        return (en, "english") if en.labelled else en.status
    if policy == "either":
        # one side's label stands only when the other found nothing to say (not a range, negation, ...)
        quiet = (NO_STATEMENT, GENERIC)
        if en.labelled and es.status in quiet:
            return en, "english"
        if es.labelled and en.status in quiet:
            return es, "spanish"
        return DISAGREE if en.labelled and es.labelled else (es.status if en.labelled else en.status)
    if policy == "exclude":
        return DISAGREE
    chosen, source = (en, "english") if policy == "english" else (es, "spanish")
    return (chosen, source) if chosen.labelled else chosen.status


def decide_report(
    row: dict[str, str],
    policy: Policy,
    to_class: Callable[[str], str | None],
    options: Options = DEFAULT_OPTIONS,
) -> Decision:
    exam, patient = row["exam_id"], row["patient_id"]
    given = (row.get("given_label") or "").strip()
    if given:
        label = to_class(given)
        if label is None:
            return Decision(exam, patient, None, "", "given", given, UNKNOWN_GIVEN)
        return Decision(exam, patient, label, "given", "given", given, "")
    text_es = row.get("text_es") or ""
    if (reason := screen_text(text_es)) is not None:
        return Decision(exam, patient, None, "", "", "", reason)
    en, es = extract_en(row.get("text_en") or "", options), extract_es(text_es, options)
    outcome = combine(en, es, policy)
    if isinstance(outcome, str):
        # the Spanish reason is the more specific one when the English side only saw a conflict
        return Decision(exam, patient, None, "", "", "", _reason(outcome, en, es), en, es)
    chosen, source = outcome
    label = to_class(chosen.letter)
    if label is None:
        return Decision(exam, patient, None, "", chosen.rule, chosen.span, UNMAPPED, en, es)
    right = to_class(chosen.right) if chosen.right else None
    left = to_class(chosen.left) if chosen.left else None
    return Decision(exam, patient, label, source, chosen.rule, chosen.span, "", en, es, right, left)


def _reason(outcome: str, en: Extraction, es: Extraction) -> str:
    if outcome == CONFLICT and es.status not in (CONFLICT, "labelled", "no_statement"):
        return es.status
    return outcome


def check_reports(reports: pd.DataFrame, source: str) -> None:
    """Clear error for a reports table the label stage cannot use."""
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; expected {list(REPORT_COLUMNS)}")
    dupes = reports["exam_id"][reports["exam_id"].duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"{source}: duplicate exam_id values {dupes[:5]} ({len(dupes)} in all)")


def label_reports(
    reports: pd.DataFrame,
    class_names: list[str],
    label_map: dict[str, str],
    policy: Policy = "exclude",
    options: Options = DEFAULT_OPTIONS,
) -> list[Decision]:
    """Decide every report of a translate-stage table (columns REPORT_COLUMNS)."""
    if policy not in POLICIES:
        raise ValueError(f"label.on_disagreement must be one of {POLICIES}, got {policy!r}")
    check_reports(reports, "reports")
    to_class = class_mapper(class_names, label_map)
    rows = reports.to_dict("records")
    decisions = [
        decide_report(r, policy, to_class, options)
        for r in tqdm(rows, desc="label", unit="report", leave=False)
    ]
    unmapped = sum(d.reason == UNMAPPED for d in decisions)
    if unmapped:
        log.warning(
            "%d report(s) state a density letter that maps to no class in %s; add it to data.label_map",
            unmapped,
            class_names,
        )
    return decisions


def labels_frame(decisions: list[Decision]) -> pd.DataFrame:
    rows = [
        {"exam_id": d.exam_id, "patient_id": d.patient_id, "label": d.label, "source": d.source,
         "rule": d.rule, "span": d.span, "label_right": d.right or "", "label_left": d.left or ""}
        for d in decisions
        if d.label is not None
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=LABEL_COLUMNS)


def excluded_frame(decisions: list[Decision]) -> pd.DataFrame:
    rows = [
        {"exam_id": d.exam_id, "patient_id": d.patient_id, "reason": d.reason}
        for d in decisions
        if d.label is None
    ]
    return pd.DataFrame(rows, columns=EXCLUDED_COLUMNS)


def label_metrics(decisions: list[Decision], class_names: list[str], corrections: pd.DataFrame) -> dict:
    """metrics/label.json: yield per class and reason, language agreement, normalisation effort per report."""
    labelled = [d for d in decisions if d.label is not None]
    per_class = Counter(d.label for d in labelled)
    compared = [d for d in decisions if d.english is not None and d.spanish is not None]
    agree = [d for d in compared if d.english.letter == d.spanish.letter]
    both = [d for d in compared if d.english.labelled and d.spanish.labelled]
    both_agree = [d for d in both if d.english.letter == d.spanish.letter]
    text_exams = {d.exam_id for d in compared}
    per_report = corrections[corrections["exam_id"].isin(text_exams)].groupby("exam_id").size()
    counts = [int(per_report.get(e, 0)) for e in sorted(text_exams)]
    return {
        "reports": len(decisions),
        "labelled": len(labelled),
        "labelled_per_class": {c: int(per_class.get(c, 0)) for c in class_names},
        "labelled_per_source": dict(sorted(Counter(d.source for d in labelled).items())),
        "labelled_per_rule": dict(sorted(Counter(d.rule for d in labelled).items())),
        # reports whose statement names a side; the label then follows label.sides
        "labelled_with_sides": sum(d.right is not None or d.left is not None for d in labelled),
        "sides_differ": sum(
            d.right is not None and d.left is not None and d.right != d.left for d in labelled
        ),
        "excluded": len(decisions) - len(labelled),
        "excluded_per_reason": dict(sorted(Counter(d.reason for d in decisions if d.label is None).items())),
        "language_agreement": {
            "reports_compared": len(compared),
            "agreement": _ratio(len(agree), len(compared)),
            "both_labelled": len(both),
            "agreement_when_both_labelled": _ratio(len(both_agree), len(both)),
        },
        "corrections_per_report": {
            "mean": round(sum(counts) / len(counts), 4) if counts else 0.0,
            "max": max(counts, default=0),
        },
    }


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None

"""`breast-density audit-text`: the text stages' outputs against the embedded cohort's ground truth.

Reads data/raw/cohort-truth (clean Spanish, reference English, true densities, injected errors, PHI values),
the raw export (noisy reports) and data/interim/{normalize,translate,label}. Truth exam ids are mapped to the
pipeline's pseudonymous ids with ingest's keyed hash, so the key must be the one ingest used
($BREAST_DENSITY_HASH_KEY, else ingest.hash_key). Then scores the text stages, with the params file's
settings, on the hand-written development set (tests/data/density_dev_es.tsv: sentences alone and as the
findings of a report). Prints every figure next to its target; --check turns a missed target into exit
status 1 (for CI).
"""

from __future__ import annotations

import argparse
import operator
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sacrebleu
from rapidfuzz import fuzz

from breast_density import paths
from breast_density.cohort import report_templates as tpl
from breast_density.ingest.deid import DATE, NAME, RECORD, known_name_pattern, pseudonymize, resolve_hash_key
from breast_density.io import read_csv, read_json, write_json
from breast_density.params import load_params
from breast_density.text.devset import read_dev_set, score_dev_set
from breast_density.text.labeling import class_mapper
from breast_density.text.normalize_metrics import normalize_scores
from breast_density.text.report_text import TextStages

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_VARIABLE = re.compile(r"\{\w+\}|\d+|\b(?:derecha|izquierda|right|left)\b", re.IGNORECASE)
DISTRACTOR_SIMILARITY = 85.0  # rapidfuzz partial ratio of a sentence to a distractor template
_OPS = {">=": operator.ge, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Target:
    figure: str  # dotted key into the figures
    op: str  # ">=" or "<" or "=="
    threshold: float

    def passed(self, figures: dict) -> bool:
        value = _lookup(figures, self.figure)
        return value is not None and _OPS[self.op](value, self.threshold)


COHORT_TARGETS = (
    Target("normalize.density_restored_rate", ">=", 0.95),
    Target("normalize.overcorrected_rate", "<", 0.005),
    Target("label.accuracy_on_statement_reports", ">=", 0.99),
    Target("label.no_statement_excluded_rate", ">=", 0.98),
    Target("label.labels_from_distractor_sentences", "==", 0),
    Target("translate.chrf", ">=", 70.0),
)
DEVSET_TARGETS = (
    *(
        t
        for form in ("alone", "in_report")
        for t in (
            Target(f"devset.{form}_statement_correct", ">=", 0.97),
            Target(f"devset.{form}_wrong_letters", "==", 0),
            Target(f"devset.{form}_no_category_abstained", ">=", 0.97),
        )
    ),
    Target("devset.untranslated_share", "<", 0.05),
)
TARGETS = COHORT_TARGETS + DEVSET_TARGETS


def _lookup(figures: dict, dotted: str) -> float | None:
    section, key = dotted.split(".")
    return figures.get(section, {}).get(key)


def pipeline_ids(truth_ids: pd.Series, key: str) -> pd.Series:
    """Truth exam ids -> the pseudonymous ids ingest gave them."""
    return truth_ids.map(lambda e: pseudonymize(e, key))


def mask_phi(text: str, phi: dict) -> str:
    """Replace the cohort's PHI values in a reference text by ingest's placeholders, so a translation that
    kept the placeholders is not penalised for not knowing the patient's name."""
    names = known_name_pattern(phi.get("names", []))
    if names is not None:
        text = re.sub(rf"{re.escape(NAME)}(?:\s+{re.escape(NAME)})+", NAME, names.sub(NAME, text))
    for values, placeholder in ((phi.get("record_numbers", []), RECORD), (phi.get("dates", []), DATE)):
        if values:
            text = re.sub(
                "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)), placeholder, text
            )
    return text


def distractor_keys() -> list[str]:
    return [_VARIABLE.sub(" ", side).lower() for f in tpl.FINDINGS if f.distractor for side in (f.es, f.en)]


def span_sentence(text: str, span: str) -> str:
    """The sentence of `text` holding the first occurrence of `span` ('' when absent)."""
    at = text.find(span)
    if not span or at < 0:
        return ""
    for m in _SENTENCE.finditer(text):
        if m.start() <= at < m.end():
            return m.group(0)
    return ""


def is_distractor_sentence(sentence: str, keys: list[str]) -> bool:
    plain = _VARIABLE.sub(" ", sentence).lower()
    return bool(plain.strip()) and any(fuzz.partial_ratio(plain, k) >= DISTRACTOR_SIMILARITY for k in keys)


def normalize_figures(truth: pd.DataFrame, raw: pd.DataFrame, normalized: pd.DataFrame) -> dict:
    rows = truth.join(raw.set_index("exam_id")["report"], on="exam_id").join(
        normalized.set_index("exam_id")["text"], on="pid"
    )
    rows = rows.dropna(subset=["report", "text"])
    scores = normalize_scores(
        rows["report_clean_es"].tolist(), rows["report"].tolist(), rows["text"].tolist()
    )
    return {"reports": len(rows), **scores}


def translate_figures(truth: pd.DataFrame, translated: pd.DataFrame, phi: dict) -> dict:
    rows = truth.join(translated.set_index("exam_id")["text_en"], on="pid").dropna(subset=["text_en"])
    rows = rows[rows["text_en"].str.strip() != ""]
    references = [mask_phi(t, phi) for t in rows["report_en"]]
    chrf = sacrebleu.corpus_chrf(rows["text_en"].tolist(), [references])
    return {"reports": len(rows), "chrf": round(chrf.score, 2)}


def label_figures(
    truth: pd.DataFrame,
    labels: pd.DataFrame,
    translated: pd.DataFrame,
    class_names: list[str],
    label_map: dict,
) -> dict:
    to_class = class_mapper(class_names, label_map)
    rows = truth.join(labels.set_index("exam_id")[["label", "source", "span"]], on="pid")
    rows = rows.join(translated.set_index("exam_id")[["text_es", "text_en"]], on="pid")
    statement = rows["has_statement"].astype(str).str.lower() == "true"
    labelled = rows["label"].notna()
    expected = rows["density_reported"].map(to_class)
    correct = labelled & (rows["label"] == expected)
    keys = distractor_keys()
    from_distractor = 0
    for r in rows[labelled].itertuples():
        text = r.text_es if r.source == "spanish" else r.text_en
        from_distractor += is_distractor_sentence(span_sentence(str(text), str(r.span)), keys)
    n_stmt, n_none = int(statement.sum()), int((~statement).sum())
    # correct labels over all statement reports of each phrasing (letter, tipo, patron, number, descriptive)
    per_form = {
        form: _rate(int((group["label"] == group["expected"]).sum()), len(group))
        for form, group in rows[statement].assign(expected=expected).groupby("statement_form")
    }
    return {
        "statement_reports": n_stmt,
        "labelled_statement_reports": int((statement & labelled).sum()),
        "accuracy_on_statement_reports": _rate(
            int((statement & correct).sum()), int((statement & labelled).sum())
        ),
        "coverage_of_statement_reports": _rate(int((statement & labelled).sum()), n_stmt),
        "no_statement_reports": n_none,
        "no_statement_excluded_rate": _rate(int((~statement & ~labelled).sum()), n_none),
        "labels_on_no_statement_reports": int((~statement & labelled).sum()),
        "labels_from_distractor_sentences": int(from_distractor),
        "correct_share_per_statement_form": per_form,
    }


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def audit_text(
    truth_dir: Path, raw_dir: Path, interim_dir: Path, key: str, class_names: list[str], label_map: dict
) -> dict:
    """Every audit figure, by section (normalize, translate, label)."""
    truth = read_csv(truth_dir / "exams.csv")
    truth["pid"] = pipeline_ids(truth["exam_id"], key)
    translated = read_csv(interim_dir / "translate" / "reports.csv")
    if not truth["pid"].isin(translated["exam_id"]).any():
        raise ValueError(
            f"{interim_dir / 'translate' / 'reports.csv'}: no exam of {truth_dir / 'exams.csv'} found; "
            "were the stages run on this cohort with the same hash key ($BREAST_DENSITY_HASH_KEY)?"
        )
    return {
        "normalize": normalize_figures(
            truth, read_csv(raw_dir / "reports.csv"), read_csv(interim_dir / "normalize" / "reports.csv")
        ),
        "translate": translate_figures(truth, translated, read_json(truth_dir / "phi.json")),
        "label": label_figures(
            truth, read_csv(interim_dir / "label" / "labels.csv"), translated, class_names, label_map
        ),
    }


def devset_figures(path: Path, stages: TextStages) -> dict:
    """The development set's scores as one flat section: <form>_<figure> for form alone / in_report."""
    scores = score_dev_set(read_dev_set(path), stages)
    flat: dict = {"sentences": scores["sentences"], "per_label": scores["per_label"]}
    for form in ("alone", "in_report"):
        for name, value in scores[form].items():
            flat[f"{form}_{name}"] = value
    flat["untranslated_share"] = scores["untranslated_share"]
    return flat


def format_report(figures: dict) -> str:
    targets = {t.figure: t for t in TARGETS}
    lines = []
    for section, values in figures.items():
        lines.append(section)
        for name, value in values.items():
            shown = "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
            line = f"  {name:38} {shown:>10}"
            if (t := targets.get(f"{section}.{name}")) is not None:
                line += f"   target {t.op} {t.threshold:g}: {'ok' if t.passed(figures) else 'MISSED'}"
            lines.append(line)
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="params file (classes, hash key)")
    parser.add_argument("--truth", type=Path, default=paths.COHORT_TRUTH, help="cohort truth folder")
    parser.add_argument("--raw", type=Path, default=paths.COHORT, help="raw cohort export (noisy reports)")
    parser.add_argument("--interim", type=Path, default=paths.INTERIM, help="folder of the stage outputs")
    parser.add_argument("--dev-set", type=Path, default=paths.DEV_SET, help="hand-written development set")
    parser.add_argument("--json", type=Path, help="also write the figures and target results here")
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")


def audit_command(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    if not (args.truth / "exams.csv").is_file():
        raise FileNotFoundError(
            f"{args.truth / 'exams.csv'}: no cohort ground truth; the audit needs the embedded cohort "
            "(data.source: synthetic, then `dvc repro label`)"
        )
    figures = audit_text(
        args.truth,
        args.raw,
        args.interim,
        resolve_hash_key(params.ingest.hash_key, params.ingest.hash_key_file),
        params.class_names,
        dict(params.data.label_map),
    )
    figures["devset"] = devset_figures(args.dev_set, TextStages(params))
    missed = [f"{t.figure} {t.op} {t.threshold:g}" for t in TARGETS if not t.passed(figures)]
    print(format_report(figures))
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    if args.json:
        write_json(args.json, {**figures, "targets_missed": missed})
    return 1 if args.check and missed else 0

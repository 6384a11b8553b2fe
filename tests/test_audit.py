"""The text audit on the demo-sized cohort's reports run through normalize -> translate -> label.

Images play no part in the text stages, so the cohort's reports and truth are generated without rendering
DICOMs, and ingest's text step (keyed pseudonyms, PHI scrubbing) is applied with its own functions.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import pytest

from breast_density.cohort.generate import plan_cohort, truth_exams, write_reports
from breast_density.cohort.reports import format_exam_date
from breast_density.commands.audit_text import (
    COHORT_TARGETS,
    DEVSET_TARGETS,
    add_arguments,
    audit_command,
    audit_text,
    distractor_keys,
    is_distractor_sentence,
    mask_phi,
    span_sentence,
)
from breast_density.ingest.deid import pseudonymize, scrub_report
from breast_density.io import read_csv, write_csv, write_json
from breast_density.params import Params, parse_params
from breast_density.stages import label, normalize, translate

KEY = "audit-test-key"


def _text_cohort(root: Path, params: Params) -> None:
    """raw/cohort/reports.csv, raw/cohort-truth/{exams.csv, phi.json}, interim/ingest/reports.csv."""
    exams = plan_cohort(params.cohort, params.base.seed)
    reports = write_reports(exams, params.cohort, params.base.seed)
    raw = pd.DataFrame(
        {
            "exam_id": [e.exam_id for e in exams],
            "patient_id": [e.patient.patient_id for e in exams],
            "report": [r.text for r in reports],
        }
    )
    write_csv(root / "raw" / "cohort" / "reports.csv", raw)
    truth = truth_exams(exams, reports)
    write_csv(root / "raw" / "cohort-truth" / "exams.csv", truth)
    phi = {
        "names": sorted({e.patient.phi.name for e in exams}),
        "record_numbers": sorted({e.patient.phi.record_number for e in exams}),
        "dates": sorted({format_exam_date(e.exam_date) for e in exams}),
    }
    write_json(root / "raw" / "cohort-truth" / "phi.json", phi)
    ingest = pd.DataFrame(
        {
            "exam_id": [pseudonymize(e.exam_id, KEY) for e in exams],
            "patient_id": [pseudonymize(e.patient.patient_id, KEY) for e in exams],
            "text": [scrub_report(r.text, [e.patient.phi.name]) for e, r in zip(exams, reports, strict=True)],
            "given_label": "",
        }
    )
    write_csv(root / "interim" / "ingest" / "reports.csv", ingest)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Params]:
    root = tmp_path_factory.mktemp("text-pipeline")
    params = parse_params({"ingest": {"hash_key": KEY}})
    _text_cohort(root, params)
    interim = root / "interim"
    normalize.run(params, interim / "ingest" / "reports.csv", interim / "normalize", root / "normalize.json")
    translate.run(params, interim / "normalize" / "reports.csv", interim / "translate")
    label.run(
        params,
        interim / "translate" / "reports.csv",
        interim / "normalize" / "corrections.csv",
        interim / "label",
        root / "label.json",
    )
    return root, params


def _audit(root: Path, params: Params) -> dict:
    return audit_text(
        root / "raw" / "cohort-truth", root / "raw" / "cohort", root / "interim", KEY, params.class_names, {}
    )


def test_targets_hold_on_the_demo_cohort(pipeline: tuple[Path, Params]) -> None:
    root, params = pipeline
    figures = _audit(root, params)
    assert figures["normalize"]["reports"] == figures["translate"]["reports"] == params.cohort.exams
    assert (
        figures["label"]["statement_reports"] + figures["label"]["no_statement_reports"]
        == params.cohort.exams
    )
    missed = [t.figure for t in COHORT_TARGETS if not t.passed(figures)]
    assert not missed, figures
    assert figures["label"]["coverage_of_statement_reports"] >= 0.9


def test_command_checks_targets_and_fails_on_wrong_labels(
    pipeline: tuple[Path, Params], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    root, _ = pipeline
    params_file = tmp_path / "params.yaml"
    params_file.write_text(f"ingest:\n  hash_key: {KEY}\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = ["--params", str(params_file), "--truth", str(root / "raw" / "cohort-truth")]
    argv += ["--raw", str(root / "raw" / "cohort"), "--json", str(tmp_path / "audit.json"), "--check"]
    assert audit_command(parser.parse_args([*argv, "--interim", str(root / "interim")])) == 0
    assert "all targets met" in capsys.readouterr().out
    written = json.loads((tmp_path / "audit.json").read_text())
    assert written["targets_missed"] == []
    # the development set is scored with the params file's text settings, alone and inside a report
    assert written["devset"]["sentences"] >= 300
    assert all(t.passed(written) for t in DEVSET_TARGETS)

    # The same outputs with a few labels shifted to the next class must fail the check.
    broken = tmp_path / "interim"
    for stage in ("normalize", "translate", "label"):
        for f in (root / "interim" / stage).iterdir():
            write_csv(broken / stage / f.name, read_csv(f))
    labels = read_csv(broken / "label" / "labels.csv")
    shift = {"A": "B", "B": "C", "C": "D", "D": "A"}
    labels.loc[:4, "label"] = labels.loc[:4, "label"].map(shift)
    write_csv(broken / "label" / "labels.csv", labels)
    assert audit_command(parser.parse_args([*argv, "--interim", str(broken)])) == 1
    assert "label.accuracy_on_statement_reports" in capsys.readouterr().out


def test_wrong_hash_key_is_a_clear_error(pipeline: tuple[Path, Params]) -> None:
    root, _ = pipeline
    with pytest.raises(ValueError, match="same hash key"):
        audit_text(root / "raw" / "cohort-truth", root / "raw" / "cohort", root / "interim", "other", [], {})


def test_distractor_sentences_are_recognised() -> None:
    keys = distractor_keys()
    text = (
        "FINDINGS: Breast density type C. Isodense nodule of 9 mm in the left breast, circumscribed margins."
    )
    assert not is_distractor_sentence(span_sentence(text, "type C"), keys)
    assert is_distractor_sentence(span_sentence(text, "Isodense nodule"), keys)
    assert is_distractor_sentence(
        "Densidad asimétrica en el cuadrante superoexterno de la mama derecha,", keys
    )


def test_reference_phi_is_masked_like_ingest_does() -> None:
    phi = {"names": ["Ana García López"], "record_numbers": ["1234567"], "dates": ["01/02/2020"]}
    masked = mask_phi("Patient: Ana García López. Record number: 1234567. Study date: 01/02/2020.", phi)
    assert masked == "Patient: [NOMBRE]. Record number: [NHC]. Study date: [FECHA]."

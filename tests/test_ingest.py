"""The ingest stage on a hospital-export layout: every bad input is quarantined with its reason."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1

from breast_density.imaging.decode import read_pixels
from breast_density.ingest.deid import pseudonymize
from breast_density.params import parse_params
from breast_density.stages import ingest
from ingest_fixtures import make_dicom, make_exam, reports_layout

KEY = "test-key"
EXAMS = [
    ("EX1", "PAT001", "GARCÍA LÓPEZ^MARÍA JOSÉ", "1234567"),
    ("EX2", "PAT002", "ROMERO DELGADO^ENCARNACIÓN", "7654321"),
    ("EX3", "PAT001", "GARCÍA LÓPEZ^MARÍA JOSÉ", "1234567"),
]


def _params(**ingest_kw):
    return parse_params(
        {"data": {"source": "reports"}, "ingest": {"hash_key": KEY, "workers": 1, **ingest_kw}}
    )


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    names = ("images", "reports", "quarantine")
    return {n: pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False) for n in names}


def _run(root: Path, tmp_path: Path, params=None) -> tuple[dict, dict[str, pd.DataFrame]]:
    out = tmp_path / "out"
    metrics = ingest.run(params or _params(), root, out, tmp_path / "ingest.json")
    return metrics, _tables(out)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("BREAST_DENSITY_HASH_KEY", raising=False)


def test_clean_export_is_ingested_and_deidentified(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS)
    metrics, t = _run(root, tmp_path)
    assert metrics["exams"] == 3 and metrics["images"] == 12 and metrics["quarantined"] == 0
    assert metrics["patients"] == 2
    images, reports = t["images"], t["reports"]
    assert set(images["exam_id"]) == {pseudonymize(e, KEY) for e, *_ in EXAMS}
    assert set(reports["patient_id"]) == {pseudonymize("PAT001", KEY), pseudonymize("PAT002", KEY)}
    assert all(
        iid == f"{e}_{lat}_{v}"
        for iid, e, lat, v in images[["image_id", "exam_id", "laterality", "view"]].values
    )
    assert set(images["vendor"]) == {"HOLOGIC, Inc."} and set(images["rows"]) == {"48"}
    text = " ".join(reports["text"])
    for phi in (
        "María",
        "MARÍA",
        "García",
        "GARCÍA",
        "Romero",
        "Encarnación",
        "1234567",
        "15/03/2021",
        "PAT00",
    ):
        assert phi not in text
    assert "[NOMBRE]" in text and "[NHC]" in text and "[FECHA]" in text and "densas (ACR C)" in text
    # the copies decode exactly like the originals and carry no identifying header value
    for path in images["path"]:
        assert Path(path).parent == tmp_path / "out" / "images"
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) == "" and "PatientBirthDate" not in ds and "InstitutionName" not in ds
    original = root / "dicom/PAT001/EX1/L_CC.dcm"
    copy = images.set_index("image_id").loc[f"{pseudonymize('EX1', KEY)}_L_CC", "path"]
    np.testing.assert_array_equal(read_pixels(copy), read_pixels(original))
    assert json.loads((tmp_path / "ingest.json").read_text()) == metrics


def test_raw_paths_when_copies_are_off(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS[:1])
    _, t = _run(root, tmp_path, _params(deidentified_copies=False))
    assert all(p.startswith(str(root)) for p in t["images"]["path"])
    assert not (tmp_path / "out" / "images").exists()


def _corrupt(path: Path, how: str) -> None:
    if how == "not_dicom":
        path.write_text("exam list exported by mistake")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-500])
    elif how == "wrong_length":
        ds = pydicom.dcmread(path)
        ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
        ds.save_as(path)
    elif how == "no_pixels":
        ds = pydicom.dcmread(path)
        del ds.PixelData
        ds.save_as(path)
    elif how == "jpeg_lossless":
        ds = pydicom.dcmread(path)
        ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
        ds.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + b"\x00" * 64])
        ds["PixelData"].VR = "OB"
        ds.save_as(path)


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("not_dicom", "not a DICOM file"),
        ("truncated", "truncated file or pixel data of the wrong length"),
        ("wrong_length", "truncated file or pixel data of the wrong length"),
        ("no_pixels", "no pixel data"),
        ("jpeg_lossless", "undecodable transfer syntax: JPEG Lossless"),
    ],
)
def test_broken_files_are_quarantined_with_reason(tmp_path, how, reason):
    root = reports_layout(tmp_path / "export", EXAMS[:2])
    _corrupt(root / "dicom/PAT001/EX1/L_MLO.dcm", how)
    metrics, t = _run(root, tmp_path)
    q = t["quarantine"]
    assert len(q) == 1 and q["reason"][0].startswith(reason), q.to_dict("records")
    assert q["exam_id"][0] == pseudonymize("EX1", KEY)
    assert q["file"][0].endswith("/L_MLO.dcm") and "PAT001" not in q["file"][0] and "EX1" not in q["file"][0]
    assert metrics["images"] == 7 and metrics["exams"] == 2
    assert metrics["quarantined_by_reason"] == {q["reason"][0].split(":")[0]: 1}
    if how == "jpeg_lossless":
        assert "pylibjpeg-libjpeg" in q["reason"][0] or "gdcm" in q["reason"][0]


def test_header_rules_modality_intent_view_duplicates(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS)
    ex2 = root / "dicom/PAT002/EX2"
    make_dicom(ex2 / "R_CC.dcm", modality="CT", patient_id="PAT002", accession="X", laterality="R", view="CC")
    make_dicom(ex2 / "L_CC.dcm", intent="FOR PROCESSING", patient_id="PAT002", laterality="L", view="CC")
    make_dicom(ex2 / "L_XCCL.dcm", patient_id="PAT002", laterality="L", view="XCCL")
    shutil.copy(root / "dicom/PAT001/EX1/R_MLO.dcm", root / "dicom/PAT001/EX1/R_MLO_copy.dcm")  # same SOP UID
    make_dicom(root / "dicom/PAT001/EX3/zz_again.dcm", patient_id="PAT001", laterality="L", view="CC")
    make_dicom(root / "dicom/PAT001/EX3/other.dcm", patient_id="PAT999", laterality="R", view="ML")
    make_dicom(root / "dicom/PAT001/EX3/wrong_patient.dcm", patient_id="PAT999", laterality="R", view="CC")
    _, t = _run(root, tmp_path)
    reasons = sorted(t["quarantine"]["reason"])
    assert any(r.startswith("not a mammogram: Modality CT") for r in reasons)
    assert any(r.startswith("FOR PROCESSING image") for r in reasons)
    assert any(r.startswith("unsupported view: XCCL") for r in reasons)
    assert any(r.startswith("unsupported view: ML") for r in reasons)
    assert any(r.startswith("duplicate image: same SOPInstanceUID") for r in reasons)
    assert any(r.startswith("duplicate image: exam already has L CC") for r in reasons)
    assert any(r.startswith("patient mismatch") for r in reasons)
    assert len(reasons) == 7
    assert "PAT" not in t["quarantine"].to_csv()


def test_for_processing_kept_when_asked(tmp_path):
    root = tmp_path / "export"
    reports_layout(root, EXAMS[:1])
    (root / "dicom/PAT001/EX1/L_CC.dcm").unlink()
    make_dicom(root / "dicom/PAT001/EX1/L_CC.dcm", intent="FOR PROCESSING", patient_id="PAT001")
    metrics, _ = _run(root, tmp_path, _params(keep_for_processing=True))
    assert metrics["images"] == 4 and metrics["quarantined"] == 0


def test_exam_and_report_mismatches(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS)
    make_exam(root, "EX9", "PAT009", "PÉREZ^ANA")  # images, no report
    reports = pd.read_csv(root / "reports.csv", dtype=str)
    extra = pd.DataFrame(
        [{"exam_id": "EX7", "patient_id": "PAT007", "report": "Paciente: Ana Ruiz. Densidad B."}]
    )
    reports = pd.concat([reports, extra])  # report, no images
    reports.loc[reports["exam_id"] == "EX2", "report"] = "  "  # empty report
    reports.to_csv(root / "reports.csv", index=False)
    metrics, t = _run(root, tmp_path)
    q = t["quarantine"]
    by_exam = q.groupby("exam_id")["reason"].apply(list).to_dict()
    assert by_exam[pseudonymize("EX7", KEY)] == ["report without images"]
    assert len(by_exam[pseudonymize("EX9", KEY)]) == 4
    assert all(r.startswith("exam without report") for r in by_exam[pseudonymize("EX9", KEY)])
    ex2 = by_exam[pseudonymize("EX2", KEY)]
    assert ex2.count("empty report") == 1 and sum(r.startswith("exam without report") for r in ex2) == 4
    assert metrics["exams"] == 2 and metrics["images"] == 8


def test_cp1252_reports_read_with_warning(tmp_path, caplog):
    root = reports_layout(tmp_path / "export", EXAMS[:1], encoding="cp1252")
    with caplog.at_level(logging.WARNING):
        metrics, t = _run(root, tmp_path)
    assert "cp1252" in caplog.text and metrics["table_encoding"] == "cp1252"
    assert "heterogéneamente" in t["reports"]["text"][0]


def test_duplicate_exam_ids_keep_the_first_row(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS[:2])
    reports = pd.read_csv(root / "reports.csv", dtype=str)
    pd.concat([reports, reports.iloc[[1]]]).to_csv(root / "reports.csv", index=False)
    metrics, t = _run(root, tmp_path)
    assert metrics["exams"] == 2 and metrics["images"] == 8
    q = t["quarantine"]
    assert list(q["reason"]) == ["duplicate exam_id in reports.csv: the first row is kept"]
    assert list(q["exam_id"]) == [pseudonymize("EX2", KEY)]


def test_nothing_usable_and_missing_files_fail_clearly(tmp_path, monkeypatch):
    root = reports_layout(tmp_path / "export", EXAMS[:1])
    for f in (root / "dicom/PAT001/EX1").iterdir():
        f.write_text("not an image")
    with pytest.raises(
        ValueError,
        match=r"nothing usable remains after quarantine \(not a DICOM file.*: 4, report without images: 1\)",
    ):
        _run(root, tmp_path)
    assert not (tmp_path / "out" / "images.csv").exists()  # no half-written output
    (root / "reports.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"reports\.csv: reports file not found"):
        _run(root, tmp_path)
    # the stage entry point turns both into a one-line message and a non-zero exit
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        ingest,
        "stage_setup",
        lambda name: _params().model_copy(
            update={"data": _params().data.model_copy(update={"root": str(root)})}
        ),
    )
    with pytest.raises(SystemExit, match=r"ingest: .*reports file not found"):
        ingest.main()


def test_parallel_scan_matches_serial(tmp_path):
    from multiprocessing import get_context

    from breast_density.imaging.dicom_header import find_dicom_files, scan_headers

    root = reports_layout(tmp_path / "export", EXAMS)
    _corrupt(root / "dicom/PAT002/EX2/R_CC.dcm", "truncated")
    files = find_dicom_files(root)
    serial = list(scan_headers(files))
    with get_context("forkserver").Pool(2) as pool:
        parallel = list(scan_headers(files, pool))
    assert parallel == serial and sum(h.problem is not None for h in serial) == 1


def test_bare_dataset_without_preamble_is_ingested(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS[:1])
    path = root / "dicom/PAT001/EX1/R_CC.dcm"
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    ds.save_as(path, implicit_vr=True, little_endian=True, enforce_file_format=False)
    (root / "dicom/PAT001/EX1/zeros.dcm").write_bytes(b"\x00" * 4096)
    metrics, t = _run(root, tmp_path)
    assert metrics["images"] == 4 and list(t["quarantine"]["reason"]) == [
        "not a DICOM file (no DICM preamble)"
    ]
    copy = t["images"].set_index("image_id").loc[f"{pseudonymize('EX1', KEY)}_R_CC", "path"]
    np.testing.assert_array_equal(read_pixels(copy), read_pixels(path))


def test_failed_run_keeps_previous_outputs(tmp_path):
    root = reports_layout(tmp_path / "export", EXAMS[:1])
    _, first = _run(root, tmp_path)
    for f in (root / "dicom/PAT001/EX1").iterdir():
        f.write_text("not an image")
    with pytest.raises(ValueError, match="nothing usable remains"):
        _run(root, tmp_path)
    kept = _tables(tmp_path / "out")
    pd.testing.assert_frame_equal(kept["images"], first["images"])
    assert all(Path(p).is_file() for p in kept["images"]["path"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "ingest.json", "out", "out.failed"]
    stopped = pd.read_csv(tmp_path / "out.failed/quarantine.csv", dtype=str)
    assert list(stopped["reason"]).count("not a DICOM file (no DICM preamble)") == 4
    _run(reports_layout(tmp_path / "export", EXAMS[:1]), tmp_path)  # a good run clears the diagnostics
    assert not (tmp_path / "out.failed").exists()

"""Hostile inputs: damaged, odd and PHI-bearing exports. Each bad item is quarantined with a reason or the run
stops with one line; good exams all get through; no planted identifying value reaches any output, the
stage's stdout/stderr or a quarantine path (compared without accents or case)."""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from breast_density.ingest.deid import fold, key_fingerprint, pseudonymize
from breast_density.ingest.sources import read_table
from breast_density.params import parse_params
from breast_density.stages import ingest
from ingest_fixtures import (
    HOSTILE_REPORT_EN,
    HOSTILE_REPORT_ES,
    PATIENT_NAME,
    PLANTED_VALUES,
    edit_dicom,
    huge_compressed,
    lying_png,
    make_dicom,
    make_exam,
    multi_frame,
    phantom,
    private_and_sequence_phi,
    raster_with_metadata,
    tiny_image,
    wrong_charset,
)

KEY = "hostile-suite-key-3f9a1c"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("BREAST_DENSITY_HASH_KEY", raising=False)


# ---- the PHI scan ------------------------------------------------------------------------------------------


def _dicom_dump(path: Path) -> str:
    """Every element at every depth (private ones and sequence items included), pixel data left out."""
    ds = pydicom.dcmread(path)
    parts = [repr(e.value) for e in ds.file_meta.iterall()]
    parts += [f"{e.tag} {e.name} {e.value!r}" for e in ds.iterall() if e.keyword != "PixelData"]
    return "\n".join(parts)


def _png_metadata(path: Path) -> str:
    data, pos, parts = path.read_bytes(), 8, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind != b"IDAT":
            parts.append(kind.decode("latin-1") + data[pos + 8 : pos + 8 + length].decode("latin-1"))
        pos += 12 + length
    return "\n".join(parts)


def _texts(path: Path) -> list[str]:
    if path.suffix == ".dcm":
        return [_dicom_dump(path)]
    if path.suffix == ".png":
        return [_png_metadata(path)]
    raw = path.read_bytes()
    return [raw.decode("utf-8", "replace"), raw.decode("latin-1")]


def _folded(text: str) -> str:
    return " ".join(fold(unicodedata.normalize("NFC", text)).split())


def phi_leaks(files: list[Path], streams: str = "") -> list[str]:
    haystacks = [(p.name, _folded(t)) for p in files for t in _texts(p)] + [
        ("stdout/stderr", _folded(streams))
    ]
    leaks = []
    for value in PLANTED_VALUES:
        needle = re.compile(rf"(?<![a-z0-9]){re.escape(_folded(value))}(?![a-z0-9])")
        leaks += [f"{name}: {value}" for name, text in haystacks if needle.search(text)]
    return leaks


def _outputs(base: Path) -> list[Path]:
    return [p for p in base.rglob("*") if p.is_file() and not p.is_symlink() and "export" not in p.parts]


def _run_stage(cwd: Path, root: Path, **params) -> subprocess.CompletedProcess:
    """The stage as DVC runs it: its own process, params.yaml in the working folder."""
    import yaml

    ingest_params = {"workers": 2, **params.pop("ingest", {})}
    (cwd / "params.yaml").write_text(
        yaml.safe_dump({"data": {"root": str(root), **params}, "ingest": ingest_params}), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "BREAST_DENSITY_LOG": "INFO"}
    env.pop("BREAST_DENSITY_HASH_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "breast_density.stages.ingest"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=300,
    )


def _key_file(tmp: Path) -> dict:
    (tmp / "secret").mkdir()
    (tmp / "secret/key").write_text(KEY + "\n", encoding="utf-8")
    return {"hash_key_file": str(tmp / "secret/key"), "key_fingerprint": key_fingerprint(KEY)}


# ---- a hospital export (reports layout, DICOM scan) with every kind of damage ------------------------------


def _reports_csv(path: Path, rows: list[tuple[str, str, str]], broken_after: int) -> None:
    """UTF-16 with BOM, ';' delimiter, CRLF; one row with an unclosed quote inserted after `broken_after`."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(["exam_id", "patient_id", "report"])
    for i, row in enumerate(rows):
        writer.writerow(row)
        if i == broken_after:
            buf.write('HX-EXA-1006;HX-PAT-7783;"Informe sin cerrar de Pérez\r\n')
    path.write_bytes(buf.getvalue().encode("utf-16"))


@pytest.fixture(scope="module")
def hospital_export(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("hospital")
    root = tmp / "export"
    nfd = unicodedata.normalize("NFD", HOSTILE_REPORT_ES)
    make_exam(root, "HX-EXA-1001", "HX-PAT-7781", PATIENT_NAME)
    make_exam(root, "HX-EXA-1002", "HX-PAT-7782", "SMITH^JANE")
    exam3 = make_exam(root, "HX-EXA-1003", "HX-PAT-7783", PATIENT_NAME)
    private_and_sequence_phi(exam3[0])
    wrong_charset(exam3[1])
    bad = make_exam(root, "HX-EXA-1004", "HX-PAT-7781", PATIENT_NAME)
    edit_dicom(bad[0], Rows=0)
    edit_dicom(bad[1], BitsStored=17)
    tiny_image(bad[2])
    multi_frame(bad[3])
    part = make_exam(root, "HX-EXA-1005", "HX-PAT-7783", PATIENT_NAME)
    huge_compressed(part[0])
    part[1].write_bytes(b"")  # zero-byte file
    edit_dicom(part[2], Rows=32, Columns=48)  # swapped: same byte count, garbled image
    make_dicom(  # a second L CC of exam 1001 (a repeated view)
        root / "dicom/HX-PAT-7781/HX-EXA-1001/L_CC_again.dcm",
        patient_id="HX-PAT-7781",
        patient_name=PATIENT_NAME,
        accession="ACCHX-EXA-1001",
    )
    make_exam(root, "HX-EXA-1006", "HX-PAT-7783", PATIENT_NAME)  # its report row has broken quoting
    named = root / "dicom/Perez_Ana/1965-04-12"  # folders named after the patient (no accents) and a date
    named.mkdir(parents=True)
    (named / "scan.dcm").write_bytes(b"\x00" * 64)
    os.close(os.open(os.fsencode(root / "dicom/HX-PAT-7781") + b"/P\xe9rez.dcm", os.O_CREAT | os.O_WRONLY))
    os.mkfifo(root / "dicom/pipe.dcm")
    os.symlink("loop.dcm", root / "dicom/loop.dcm")
    (root / "dicom/HX-PAT-7781/folder.dcm").mkdir()
    rows = [
        ("HX-EXA-1001", "HX-PAT-7781", nfd),
        ("HX-EXA-1002", "HX-PAT-7782", HOSTILE_REPORT_EN),
        ("HX-EXA-1003", "HX-PAT-7783", HOSTILE_REPORT_ES),
        ("HX-EXA-1004", "HX-PAT-7781", HOSTILE_REPORT_ES),
        ("HX-EXA-1005", "", HOSTILE_REPORT_ES),  # blank patient id: the DICOM PatientID is used
        ("HX-EXA-1001", "HX-PAT-7781", "duplicate row"),
        ("", "HX-PAT-7782", "a row without exam id"),
    ]
    _reports_csv(root / "reports.csv", rows, broken_after=3)
    done = _run_stage(tmp, root, source="reports", ingest=_key_file(tmp))
    return tmp, done


def test_hospital_export_good_exams_through_bad_items_quarantined(hospital_export):
    tmp, done = hospital_export
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out = tmp / "data/interim/ingest"
    reports = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False)
    images = pd.read_csv(out / "images.csv", dtype=str, keep_default_na=False)
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    assert list(q.columns) == ["file", "exam_id", "reason"]
    exams = {pseudonymize(f"HX-EXA-100{i}", KEY): i for i in (1, 2, 3, 5)}
    assert set(reports["exam_id"]) == set(exams)
    per_exam = images.groupby("exam_id").size().to_dict()
    assert per_exam == {e: (1 if i == 5 else 4) for e, i in exams.items()}
    patient_5 = reports.set_index("exam_id").loc[pseudonymize("HX-EXA-1005", KEY), "patient_id"]
    assert patient_5 == pseudonymize("HX-PAT-7783", KEY)
    reasons = "\n".join(q["reason"])
    for expected in (
        "broken quoting",
        "duplicate exam_id in reports.csv",
        "missing exam_id",
        "bad geometry: Rows x Columns is 0x32",
        "bad geometry: BitsStored 17 with BitsAllocated 16",
        "image too small: 1x1",
        "multi-frame image",
        "image too large: 60000x60000",
        "bad geometry: Rows x Columns 32x48 looks swapped",
        "not a DICOM file",
        "duplicate image: exam already has L CC",
        "not a regular file: named pipe",
        "not a regular file: broken or looping link",
        "exam without report",
        "report without images",
    ):
        assert expected in reasons, expected
    assert "read as utf-16, delimiter ';'" in done.stderr


def test_hospital_export_leaks_no_planted_phi(hospital_export):
    tmp, done = hospital_export
    files = _outputs(tmp / "data") + _outputs(tmp / "metrics")
    assert sum(p.suffix == ".dcm" for p in files) == 13
    assert not phi_leaks(files, done.stdout + done.stderr)
    # the scan itself sees PHI where it is: in a planted source file's sequence item and private tags
    source = tmp / "export/dicom/HX-PAT-7783/HX-EXA-1003/L_CC.dcm"
    assert {"PÉREZ", "NÚÑEZ", "19650412", "HX-PAT-7783"} <= {
        leak.split(": ")[1] for leak in phi_leaks([source])
    }


def test_dicom_copies_keep_lut_data_and_nothing_textual(hospital_export):
    tmp, _ = hospital_export
    images = pd.read_csv(tmp / "data/interim/ingest/images.csv", dtype=str)
    copy = images.set_index("image_id").loc[f"{pseudonymize('HX-EXA-1003', KEY)}_L_CC", "path"]
    ds = pydicom.dcmread(tmp / copy)
    item = ds.VOILUTSequence[0]
    assert [e.keyword for e in item] == ["LUTDescriptor", "LUTData"]
    assert not any(e.tag.is_private for e in ds.iterall())
    assert "ImageComments" not in ds and "InstitutionName" not in ds and "StudyDescription" not in ds
    codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    assert ds.PatientIdentityRemoved == "YES" and codes == ["113100"]


def test_reports_scrubbed_at_every_mention(hospital_export):
    tmp, _ = hospital_export
    reports = pd.read_csv(tmp / "data/interim/ingest/reports.csv", dtype=str)
    text = "\n".join(reports["text"])
    for placeholder in ("[NOMBRE]", "[FECHA]", "[NHC]", "[ID]", "[DIRECCION]", "[TELEFONO]", "[EMAIL]"):
        assert placeholder in text, placeholder
    assert "heterogéneamente densas (ACR C)" in text and "Extremely dense breasts (ACR D)" in text


# ---- a labels layout with raster files --------------------------------------------------------------------


@pytest.fixture(scope="module")
def labels_export(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    tmp = tmp_path_factory.mktemp("labels")
    root = tmp / "export"
    (root / "img").mkdir(parents=True)
    pixels = (phantom(bits=8) * 1).astype(np.uint8)
    views = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
    image_rows = []
    for exam, patient, suffix in (
        ("HX-EXA-1001", "HX-PAT-7781", ".png"),
        ("HX-EXA-1002", "HX-PAT-7782", ".tif"),
    ):
        for lat, view in views:
            name = f"img/{patient}_{lat}_{view}{suffix}"
            raster_with_metadata(root / name, pixels)
            image_rows.append((exam, patient, lat, view, name))
    lying_png(root / "img/lying.png")
    raster_with_metadata(root / "img/no_patient_L_CC.png", pixels)
    (root / "img/folder.png").mkdir()
    raster_with_metadata(tmp / "outside.png", pixels)
    image_rows += [
        ("HX-EXA-1004", "HX-PAT-7782", "L", "CC", "img/HX-PAT-7781_L_CC.png"),  # same file, another patient
        ("HX-EXA-1004", "HX-PAT-7782", "L", "MLO", "img/lying.png"),
        ("HX-EXA-1004", "HX-PAT-7782", "R", "CC", "../outside.png"),
        ("HX-EXA-1004", "HX-PAT-7782", "R", "MLO", "img/folder.png"),
        ("HX-EXA-1005", "", "L", "CC", "img/no_patient_L_CC.png"),
    ]
    pd.DataFrame(image_rows, columns=["exam_id", "patient_id", "laterality", "view", "path"]).to_csv(
        root / "images.csv", index=False
    )
    labels = [
        ("HX-EXA-1001", "HX-PAT-7781", "L", "B"),  # per-breast labels: the exam takes the densest
        ("HX-EXA-1001", "HX-PAT-7781", "R", "C"),
        ("HX-EXA-1002", "HX-PAT-7782", "L", "D"),
        ("HX-EXA-1003", "HX-PAT-7783", "L", "DENSE"),
        ("HX-EXA-1004", "HX-PAT-7782", "L", "A"),
        ("HX-EXA-1005", "", "L", "B"),
    ]
    pd.DataFrame(labels, columns=["exam_id", "patient_id", "laterality", "density"]).to_csv(
        root / "labels.csv", index=False, encoding="cp1252"
    )
    done = _run_stage(tmp, root, source="labels", ingest=_key_file(tmp))
    return tmp, done


def test_labels_export_good_exams_through_bad_items_quarantined(labels_export):
    tmp, done = labels_export
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    out = tmp / "data/interim/ingest"
    reports = pd.read_csv(out / "reports.csv", dtype=str, keep_default_na=False)
    q = pd.read_csv(out / "quarantine.csv", dtype=str, keep_default_na=False)
    labels = dict(zip(reports["exam_id"], reports["given_label"], strict=True))
    assert labels == {pseudonymize("HX-EXA-1001", KEY): "C", pseudonymize("HX-EXA-1002", KEY): "D"}
    reasons = "\n".join(q["reason"])
    for expected in (
        "duplicate file",
        "truncated image file: the header claims 12000x10000",
        "image path outside data.root",
        "not a regular file: a folder",
        "missing patient id",
        "unmapped label",
    ):
        assert expected in reasons, expected
    assert "label values not in data.label_map (rows): 'DENSE' (1)" in done.stderr
    assert "<outside data.root>/outside.png" in set(q["file"])


def test_labels_export_leaks_no_planted_phi(labels_export):
    tmp, done = labels_export
    files = _outputs(tmp / "data") + _outputs(tmp / "metrics")
    assert sum(p.suffix == ".png" for p in files) == 8  # TIFF and PNG copies re-encoded as PNG
    assert not phi_leaks(files, done.stdout + done.stderr)


# ---- whole-run stops: one line, diagnostics beside the outputs, previous outputs intact --------------------


def _labels_only(root: Path, values: list[str]) -> Path:
    rows = []
    for i, value in enumerate(values):
        exam = f"HX-EXA-100{i + 1}"
        make_exam(root, exam, "HX-PAT-7781", PATIENT_NAME)
        rows.append((exam, "HX-PAT-7781", value))
    pd.DataFrame(rows, columns=["exam_id", "patient_id", "density"]).to_csv(root / "labels.csv", index=False)
    return root


def _params(**data):
    return parse_params({"data": {"source": "labels", **data}, "ingest": {"hash_key": KEY, "workers": 1}})


def test_unmapped_labels_stop_with_counts_and_the_map_to_add(tmp_path):
    root = _labels_only(tmp_path / "export", ["1", "2", "2", "4"])
    out = tmp_path / "interim/ingest"
    with pytest.raises(ValueError) as err:
        ingest.run(_params(), root, out, tmp_path / "ingest.json")
    message = str(err.value)
    assert "\n" not in message
    assert "'2' (2), '1' (1), '4' (1)" in message
    assert 'label_map: {"1": A, "2": B, "4": C}' in message
    failed = pd.read_csv(tmp_path / "interim/ingest.failed/quarantine.csv", dtype=str)
    assert len(failed) == 4 and all(r.startswith("unmapped label") for r in failed["reason"])  # every exam
    assert str(tmp_path / "interim/ingest.failed/quarantine.csv") in message
    assert not out.exists() and not (tmp_path / "ingest.json").exists()
    # an empty map is the identity: class names themselves are accepted
    metrics = ingest.run(
        _params(label_map={"1": "A", "2": "B", "4": "D"}), root, out, tmp_path / "ingest.json"
    )
    assert metrics["exams"] == 4 and not (tmp_path / "interim/ingest.failed").exists()


def test_demo_key_is_refused_on_real_data_and_env_key_needs_its_fingerprint(tmp_path, monkeypatch):
    root = _labels_only(tmp_path / "export", ["A"])
    demo = parse_params({"data": {"source": "labels"}, "ingest": {"workers": 1}})
    with pytest.raises(ValueError, match=r"public demo key.*BREAST_DENSITY_HASH_KEY"):
        ingest.run(demo, root, tmp_path / "out", tmp_path / "m.json")
    monkeypatch.setenv("BREAST_DENSITY_HASH_KEY", KEY)
    with pytest.raises(ValueError, match=rf"set `key_fingerprint: {key_fingerprint(KEY)}`"):
        ingest.run(demo, root, tmp_path / "out", tmp_path / "m.json")
    tracked = demo.model_copy(
        update={"ingest": demo.ingest.model_copy(update={"key_fingerprint": key_fingerprint(KEY)})}
    )
    assert ingest.run(tracked, root, tmp_path / "out", tmp_path / "m.json")["exams"] == 1


def test_unwritable_output_and_missing_column_are_one_line(tmp_path, monkeypatch):
    root = _labels_only(tmp_path / "export", ["A"])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").write_text("a file where the output folder should be")
    monkeypatch.setattr(ingest, "stage_setup", lambda name: _params(root=str(root)))
    with pytest.raises(SystemExit, match=r"^ingest: .*Not a directory") as err:
        ingest.main()
    assert "\n" not in str(err.value)
    labels = pd.read_csv(root / "labels.csv", dtype=str).rename(columns={"density": "birads"})
    labels.to_csv(root / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels.csv: missing column\(s\) \['density'\]"):
        ingest.run(_params(), root, tmp_path / "out", tmp_path / "m.json")


# ---- tables -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "delimiter", "newline"),
    [("utf-8", ",", "\n"), ("utf-8-sig", ";", "\r\n"), ("utf-16", ";", "\r\n"), ("cp1252", "\t", "\n")],
)
def test_tables_in_any_common_encoding_and_delimiter(tmp_path, encoding, delimiter, newline):
    text = newline.join(
        [
            delimiter.join(["exam_id", "patient_id", "report"]),
            delimiter.join(["E1", "P1", '"Mamas densas, ACR C; sin cambios"']),
            delimiter.join(["E2", "P2", '"Informe de Núñez']),  # unclosed quote
            delimiter.join(["E3", "P3", "Patrón graso"]),
        ]
    )
    (tmp_path / "t.csv").write_bytes((text + newline).encode(encoding))
    table = read_table(tmp_path / "t.csv")
    assert table.delimiter == delimiter and table.encoding == encoding.replace("-sig", "")
    assert list(table.frame["exam_id"]) == ["E1", "E3"]
    assert table.frame["report"][0] == "Mamas densas, ACR C; sin cambios"
    assert table.frame["report"][1] == "Patrón graso"
    assert [(line, first) for line, first, _ in table.skipped] == [(3, "E2")]


def test_one_latin1_row_in_a_utf8_table(tmp_path):
    data = "exam_id,report\nE1,Núñez\n".encode() + "E2,Peña\n".encode("cp1252")
    (tmp_path / "t.csv").write_bytes(data)
    table = read_table(tmp_path / "t.csv")
    assert list(table.frame["report"]) == ["Núñez", "Peña"] and table.encoding == "utf-8+cp1252"


# ---- what DVC meets before the stage runs ------------------------------------------------------------------


def test_check_data_counts_entries_that_stop_dvc_without_naming_them(tmp_path, capsys):
    from breast_density.cli import main

    root = tmp_path / "root"
    (root / "HX-PAT-7781").mkdir(parents=True)
    (root / "HX-PAT-7781/a.dcm").write_bytes(b"x")
    os.mkfifo(root / "HX-PAT-7781/pipe.dcm")
    os.symlink("nowhere", root / "Perez.dcm")
    os.symlink("loop.dcm", root / "loop.dcm")
    assert main(["check-data", str(root)]) == 1
    out = capsys.readouterr().out
    assert "1 named pipe, 2 broken or looping links" in out and "-xtype l" in out
    assert not phi_leaks([], out)
    (root / "HX-PAT-7781/pipe.dcm").unlink()
    (root / "Perez.dcm").unlink()
    (root / "loop.dcm").unlink()
    assert main(["check-data", str(root)]) == 0


@pytest.mark.slow
def test_anchored_dvcignore_lets_dvc_hash_a_root_with_a_broken_link(tmp_path):
    """DVC stops on a broken link in a dependency folder (one ERROR line); the documented fix works."""
    dvc = [sys.executable, "-m", "dvc"]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}

    def repro() -> subprocess.CompletedProcess:
        return subprocess.run(
            [*dvc, "repro"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=tmp_path, env=env, check=True, timeout=120)
    (tmp_path / "root").mkdir()
    (tmp_path / "root/a.dcm").write_bytes(b"x")
    os.symlink("nowhere", tmp_path / "root/dangling.dcm")
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  s:\n    cmd: ls root > out.txt\n    deps: [root]\n    outs: [out.txt]\n", encoding="utf-8"
    )
    failed = repro()
    assert failed.returncode != 0 and "dangling.dcm" in failed.stderr and "Traceback" not in failed.stderr
    (tmp_path / ".dvcignore").write_text("/root/dangling.dcm\n", encoding="utf-8")
    done = repro()
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.txt").read_text().split() == ["a.dcm", "dangling.dcm"]

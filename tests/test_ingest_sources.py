"""Labels layout (raster images, other class schemes) and the public-dataset adapters on fixture metadata."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest

from breast_density.ingest.deid import pseudonymize
from breast_density.ingest.sources import LabelMapper, normalise_label_value
from breast_density.params import parse_params
from breast_density.stages import ingest
from ingest_fixtures import make_dicom, phantom

KEY = "test-key"
THREE_CLASSES = [
    {"name": "fatty", "description": "fatty", "prompt": "a fatty breast"},
    {"name": "glandular", "description": "scattered glandular", "prompt": "a glandular breast"},
    {"name": "dense", "description": "dense", "prompt": "a dense breast"},
]


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("BREAST_DENSITY_HASH_KEY", raising=False)


def _run(root: Path, tmp_path: Path, source: str, **data) -> tuple[dict, dict[str, pd.DataFrame]]:
    raw = {"data": {"source": source, "root": str(root), **data}, "ingest": {"hash_key": KEY, "workers": 1}}
    if "classes" in data:
        raw["classes"] = raw["data"].pop("classes")
    out = tmp_path / "out"
    metrics = ingest.run(parse_params(raw), root, out, tmp_path / "ingest.json")
    names = ("images", "reports", "quarantine")
    return metrics, {n: pd.read_csv(out / f"{n}.csv", dtype=str, keep_default_na=False) for n in names}


def _labels(reports: pd.DataFrame) -> dict[str, str]:
    return dict(zip(reports["exam_id"], reports["given_label"], strict=True))


def test_labels_layout_with_pgm_png_and_three_class_map(tmp_path):
    root = tmp_path / "labels_data"
    (root / "img").mkdir(parents=True)
    image_rows, label_rows = [], []
    for exam, birads in (("E1", "1"), ("E2", "2"), ("E3", "3"), ("E4", "4")):
        for lat, view in (("L", "CC"), ("R", "MLO")):
            suffix = ".pgm" if exam in ("E1", "E2") else ".png"
            name = f"img/{exam}_{lat}_{view}{suffix}"
            cv2.imwrite(str(root / name), (phantom(bits=8)).astype("uint8"))
            image_rows.append(
                {
                    "image_id": f"{exam}{lat}{view}",
                    "exam_id": exam,
                    "laterality": lat,
                    "view": view,
                    "path": name,
                }
            )
        label_rows.append({"exam_id": exam, "patient_id": f"P{exam}", "birads_density": birads})
    image_rows.append(
        {"image_id": "x", "exam_id": "E4", "laterality": "L", "view": "CC", "path": "img/missing.png"}
    )
    (root / "img/E5_L_CC.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    image_rows.append(
        {"image_id": "y", "exam_id": "E1", "laterality": "R", "view": "CC", "path": "img/E5_L_CC.png"}
    )
    cv2.imwrite(str(root / "img/E6.jpg"), phantom(bits=8).astype("uint8"))
    jpeg = (root / "img/E6.jpg").read_bytes()
    (root / "img/E6.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # transfer cut short
    image_rows.append(
        {"image_id": "z", "exam_id": "E2", "laterality": "R", "view": "CC", "path": "img/E6.jpg"}
    )
    pd.DataFrame(image_rows).to_csv(root / "images.csv", index=False)
    pd.DataFrame(label_rows).to_csv(root / "labels.csv", index=False)
    label_map = {"1": "fatty", "2": "glandular", "3": "dense", "4": "dense"}
    metrics, t = _run(
        root, tmp_path, "labels", label_map=label_map, label_column="birads_density", classes=THREE_CLASSES
    )
    assert _labels(t["reports"]) == {
        pseudonymize("E1", KEY): "fatty",
        pseudonymize("E2", KEY): "glandular",
        pseudonymize("E3", KEY): "dense",
        pseudonymize("E4", KEY): "dense",
    }
    assert set(t["reports"]["text"]) == {""}
    assert metrics["images"] == 8 and metrics["exams_per_label"] == {"fatty": 1, "glandular": 1, "dense": 2}
    reasons = sorted(t["quarantine"]["reason"])
    assert reasons[0] == "image file missing" and len(reasons) == 3
    assert all(r.startswith("unreadable image file") for r in reasons[1:])
    assert any("truncated" in r for r in reasons)
    assert set(t["images"]["photometric"]) == {"MONOCHROME2"} and set(t["images"]["rows"]) == {"48"}
    assert all(Path(p).suffix in {".pgm", ".png"} and Path(p).is_file() for p in t["images"]["path"])


def test_label_mapper_normalises_values_and_rejects_unknown_classes():
    mapper = LabelMapper({}, {"DENSITY A": "A", "1": "A"}, ["A", "B"])
    assert mapper("density  a ") == "A" and mapper("1.0") == "A" and mapper("DENSITY B") is None
    assert normalise_label_value(" 3.00 ") == "3"
    assert mapper.densest(["A", "B", "A"]) == "B"
    with pytest.raises(ValueError, match="not configured classes"):
        LabelMapper({"1": "Z"}, {}, ["A", "B"])


def _dicom(path: Path, lat: str, view: str, **kw) -> None:
    make_dicom(path, patient_id="anon", patient_name="", accession="", laterality=lat, view=view, **kw)


def test_vindr_adapter(tmp_path):
    root = tmp_path / "vindr"
    rows = []
    for study, densities in (("s1", ("DENSITY A", "DENSITY A")), ("s2", ("DENSITY C", "DENSITY D"))):
        for (lat, view), density in zip((("L", "CC"), ("R", "MLO")), densities, strict=True):
            image = f"{study}{lat}{view}"
            _dicom(root / "images" / study / f"{image}.dicom", lat, view)
            rows.append(
                {
                    "study_id": study,
                    "series_id": "se",
                    "image_id": image,
                    "laterality": lat,
                    "view_position": view,
                    "height": 48,
                    "width": 32,
                    "breast_birads": "BI-RADS 1",
                    "breast_density": density,
                    "finding_categories": "['No Finding']",
                    "split": "training",
                }
            )
    pd.DataFrame(rows).to_csv(root / "breast-level_annotations.csv", index=False)
    metrics, t = _run(root, tmp_path, "vindr")
    # exam label = the denser breast
    assert _labels(t["reports"]) == {pseudonymize("s1", KEY): "A", pseudonymize("s2", KEY): "D"}
    assert metrics["images"] == 4 and metrics["exams_with_breast_label_disagreement"] == 1


def test_cbis_ddsm_adapter(tmp_path):
    root = tmp_path / "cbis"
    mass, calc = [], []
    for patient, density, lat, view in (
        ("P_00001", "1", "LEFT", "CC"),
        ("P_00001", "1", "LEFT", "MLO"),
        ("P_00004", "3", "RIGHT", "CC"),
    ):
        case = f"Mass-Training_{patient}_{lat}_{view}"
        # TCIA renames the inner folders: the adapter must find the file under the case folder
        _dicom(
            root / "CBIS-DDSM" / case / "07-20-2016-DDSM-123" / "1.000000-full mammogram-1" / "1-1.dcm",
            lat[0],
            view,
        )
        listed = f"{case}/1.3.6.1.4.1.9590.100.1.2.1/1.3.6.1.4.1.9590.100.1.2.2/000000.dcm"
        for abnormality in (1, 2):  # one row per abnormality, one image
            mass.append(
                {
                    "patient_id": patient,
                    "breast_density": density,
                    "left or right breast": lat,
                    "image view": view,
                    "abnormality id": abnormality,
                    "abnormality type": "mass",
                    "pathology": "BENIGN",
                    "image file path": listed,
                }
            )
    calc.append({**mass[-1], "breast density": "4", "abnormality type": "calcification"})
    del calc[0]["breast_density"]
    calc[0]["patient_id"] = "P_00009"
    calc[0]["image file path"] = "Calc-Test_P_00009_RIGHT_CC/1.2/1.3/000000.dcm"  # not downloaded
    pd.DataFrame(mass).to_csv(root / "mass_case_description_train_set.csv", index=False)
    pd.DataFrame(calc).to_csv(root / "calc_case_description_test_set.csv", index=False)
    metrics, t = _run(root, tmp_path, "cbis_ddsm")
    assert _labels(t["reports"]) == {pseudonymize("P_00001", KEY): "A", pseudonymize("P_00004", KEY): "C"}
    assert metrics["images"] == 3
    assert sorted(t["quarantine"]["reason"]) == ["image file missing", "label without images"]


def test_rsna_adapter(tmp_path):
    root = tmp_path / "rsna"
    rows = []
    for patient, density, views in (
        ("10006", "B", ("CC", "MLO")),
        ("10011", "", ("CC",)),
        ("10025", "D", ("CC", "AT")),
    ):
        for n, view in enumerate(views):
            image = f"{patient}{n}"
            _dicom(root / "train_images" / patient / f"{image}.dcm", "L", view)
            rows.append(
                {
                    "site_id": "1",
                    "patient_id": patient,
                    "image_id": image,
                    "laterality": "L",
                    "view": view,
                    "age": "61",
                    "cancer": "0",
                    "biopsy": "0",
                    "invasive": "0",
                    "BIRADS": "",
                    "implant": "0",
                    "density": density,
                    "machine_id": "49",
                    "difficult_negative_case": "False",
                }
            )
    pd.DataFrame(rows).to_csv(root / "train.csv", index=False)
    _, t = _run(root, tmp_path, "rsna")
    assert _labels(t["reports"]) == {pseudonymize("10006", KEY): "B", pseudonymize("10025", KEY): "D"}
    reasons = sorted(t["quarantine"]["reason"])
    assert reasons[0] == "exam without label: its density is empty" and reasons[1] == "no density label"
    assert reasons[2].startswith("unsupported view: AT")
    assert set(t["images"]["vendor"]) == {"machine 49"}


def test_inbreast_adapter(tmp_path):
    root = tmp_path / "inbreast"
    lines = ["Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads"]
    for file_name, case, lat, view, acr in (
        ("22678622", "a1b2c3", "R", "CC", "4"),
        ("22678646", "a1b2c3", "R", "MLO", "4"),
        ("20586908", "d4e5f6", "L", "CC", "2"),
        ("20586934", "d4e5f6", "L", "MLO", "  "),
    ):
        short = "ML" if view == "MLO" else view
        _dicom(root / "AllDICOMs" / f"{file_name}_{case}_MG_{lat}_{short}_ANON.dcm", lat, view)
        lines.append(f"removed;removed;{lat};{view};201001;{file_name};{acr};2")
    (root / "INbreast.csv").write_text("\n".join(lines) + "\n", encoding="latin-1")
    metrics, t = _run(root, tmp_path, "inbreast")
    assert _labels(t["reports"]) == {
        pseudonymize("a1b2c3-201001", KEY): "D",
        pseudonymize("d4e5f6-201001", KEY): "B",
    }
    assert metrics["images"] == 4 and metrics["quarantined"] == 0
    assert set(t["reports"]["patient_id"]) == {pseudonymize("a1b2c3", KEY), pseudonymize("d4e5f6", KEY)}


def test_adapter_with_other_class_scheme_needs_a_label_map(tmp_path):
    root = tmp_path / "rsna"
    _dicom(root / "train_images" / "1" / "11.dcm", "L", "CC")
    pd.DataFrame(
        [
            {
                "patient_id": "1",
                "image_id": "11",
                "laterality": "L",
                "view": "CC",
                "density": "C",
                "machine_id": "1",
            }
        ]
    ).to_csv(root / "train.csv", index=False)
    binary = [
        {"name": "non_dense", "description": "fatty or scattered", "prompt": "a non-dense breast"},
        {"name": "dense", "description": "dense", "prompt": "a dense breast"},
    ]
    with pytest.raises(ValueError, match=r"set data\.label_map"):
        _run(root, tmp_path, "rsna", classes=binary)
    label_map = {"A": "non_dense", "B": "non_dense", "C": "dense", "D": "dense"}
    _, t = _run(root, tmp_path, "rsna", classes=binary, label_map=label_map)
    assert list(t["reports"]["given_label"]) == ["dense"]


def test_labels_per_image_in_images_csv_take_the_densest(tmp_path):
    """No labels.csv: the label column of images.csv labels each image; the exam takes the densest."""
    root = tmp_path / "per_image"
    (root / "img").mkdir(parents=True)
    rows = []
    for exam, per_breast in (("E1", {"L": "B", "R": "C"}), ("E2", {"L": "A", "R": "A"})):
        for lat, view in (("L", "CC"), ("R", "CC")):
            name = f"img/{exam}_{lat}_{view}.png"
            cv2.imwrite(str(root / name), phantom(bits=8).astype("uint8"))
            rows.append(
                {"exam_id": exam, "patient_id": f"P{exam}", "laterality": lat, "view": view, "path": name}
            )
            rows[-1]["density"] = per_breast[lat]
    pd.DataFrame(rows).to_csv(root / "images.csv", index=False)
    metrics, t = _run(root, tmp_path, "labels")
    assert _labels(t["reports"]) == {pseudonymize("E1", KEY): "C", pseudonymize("E2", KEY): "A"}
    assert metrics["exams_with_breast_label_disagreement"] == 1 and metrics["images"] == 4

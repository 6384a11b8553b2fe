"""`breast-density predict` on cohort DICOMs and PNGs, with a saved (untrained, tiny) ConvNeXt or probe."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from breast_density.cli import main as cli_main
from breast_density.cohort.generate import generate_cohort
from breast_density.imaging.dicom_header import scan_header
from breast_density.imaging.harmonize import BINS, LEVELS
from breast_density.models.convnext import create_convnext, model_data_config, save_bundle
from breast_density.params import CohortParams, Params

CLASSES = ["A", "B", "C", "D"]


@pytest.fixture(scope="module")
def cohort_dicoms(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("cohort")
    generate_cohort(CohortParams(exams=1, scale=0.06), 5, root / "export", root / "truth", workers=1)
    return sorted((root / "export").rglob("*.dcm"))


def _reference() -> np.ndarray:
    return np.linspace(0, 1, BINS + 1) ** 0.8  # any valid CDF: the test checks plumbing, not accuracy


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, cohort_dicoms: list[Path]) -> Path:
    out = tmp_path_factory.mktemp("models") / "finetune"
    torch.manual_seed(0)
    model = create_convnext("convnext_atto", len(CLASSES))
    out.mkdir()
    np.save(out / "harmonize_reference.npy", _reference())
    vendor = scan_header(cohort_dicoms[0]).vendor
    np.savez(out / "harmonize_vendor_levels.npz", **{vendor: np.ones(LEVELS)})
    save_bundle(
        out,
        model,
        {
            "kind": "finetune",
            "arch": "convnext_atto",
            "img_size": 32,
            "class_names": CLASSES,
            "data_config": model_data_config(model, 32),
            "harmonize": {
                "size": 64,
                "bit_depth": 8,
                "match": "vendor",
                "reference_file": "harmonize_reference.npy",
                "vendor_levels_file": "harmonize_vendor_levels.npz",
            },
        },
    )
    return out


def test_predict_dicom_returns_a_class_with_probabilities(
    model_dir: Path, cohort_dicoms: list[Path], capsys: pytest.CaptureFixture
) -> None:
    code = cli_main(
        ["predict", str(cohort_dicoms[0]), str(cohort_dicoms[1]), "--model", str(model_dir), "--json"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    results = json.loads(out.out)
    assert [r["file"] for r in results] == [str(cohort_dicoms[0]), str(cohort_dicoms[1])]
    for r in results:
        assert r["density"] in CLASSES
        assert set(r["probabilities"]) == set(CLASSES)
        assert sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert r["warnings"] == []  # the DICOM's vendor has a harmonisation curve in the bundle


def test_truncated_file_is_a_clear_error_and_others_still_run(
    model_dir: Path, cohort_dicoms: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = cohort_dicoms[0].read_bytes()
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(data[: len(data) // 2])
    code = cli_main(["predict", str(broken), str(cohort_dicoms[2]), "--model", str(model_dir)])
    out = capsys.readouterr()
    assert code != 0
    assert "broken.dcm" in out.err and "Traceback" not in out.err
    assert "truncated" in out.err or "wrong length" in out.err
    lines = out.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(cohort_dicoms[2]))
    assert lines[0].split("\t")[1] in CLASSES


def test_png_with_laterality_and_unknown_vendor_warns(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    yy, xx = np.mgrid[:80, :60]
    img = np.where((xx / 55) ** 2 + ((yy - 40) / 38) ** 2 < 1, 120, 0).astype(np.uint8)
    png = tmp_path / "new.png"
    cv2.imwrite(str(png), img)
    code = cli_main(["predict", str(png), "--laterality", "L", "--model", str(model_dir), "--json"])
    out = capsys.readouterr()
    assert code == 0
    [result] = json.loads(out.out)
    assert result["density"] in CLASSES
    assert "not one of the training vendors" in result["warnings"][0]


def test_missing_model_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli_main(["predict", str(tmp_path / "x.dcm"), "--model", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert code == 2 and "config.json" in err and "Traceback" not in err


def _pipeline_folder(tmp_path: Path, dicoms: list[Path], monkeypatch: pytest.MonkeyPatch) -> dict:
    """A working directory with params.yaml and harmonize outputs, as the CLIP bundles expect."""
    monkeypatch.chdir(tmp_path)
    params = Params().model_dump()
    params["harmonize"]["size"] = 64
    Path("params.yaml").write_text(yaml.safe_dump(params))
    harmonize = Path("data/interim/harmonize")
    harmonize.mkdir(parents=True)
    np.save(harmonize / "reference.npy", _reference())
    vendor = scan_header(dicoms[0]).vendor
    np.savez(harmonize / "vendor_levels.npz", **{vendor: np.ones(LEVELS)})
    return params


def test_adapted_zeroshot_arm_predicts_from_its_bundles(
    tmp_path: Path, cohort_dicoms: list[Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from breast_density.models.bundle import write_bundle
    from breast_density.models.clip import load_clip, save_clip_folder
    from breast_density.models.zeroshot import CLASS_EMBEDDINGS, WEIGHTS_FILE

    _pipeline_folder(tmp_path, cohort_dicoms, monkeypatch)
    demo = load_clip("demo-tiny-clip")
    save_clip_folder(demo, demo.model, Path("models/adapt"))  # stands in for the adapt stage's output
    classes = torch.nn.functional.normalize(torch.randn(len(CLASSES), demo.embed_dim), dim=-1)
    write_bundle(
        Path("models/zeroshot/adapted"),
        {
            "kind": "zeroshot",
            "classes": CLASSES,
            "logit_scale": 50.0,
            "clip_model": "models/adapt",
            "seed": 1,
        },
        weights={CLASS_EMBEDDINGS: classes},
        weights_file=WEIGHTS_FILE,
    )
    code = cli_main(["predict", str(cohort_dicoms[0]), "--model", "adapted-zeroshot", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    [result] = json.loads(out.out)
    assert result["density"] in CLASSES and abs(sum(result["probabilities"].values()) - 1) < 1e-3
    # an arm whose stage was skipped says so instead of failing obscurely
    Path("models/probe/adapted").mkdir(parents=True)
    Path("models/probe/adapted/skipped.json").write_text('{"reason": "no report text"}')
    assert cli_main(["predict", str(cohort_dicoms[0]), "--model", "adapted-probe"]) == 2
    assert "no report text" in capsys.readouterr().err


def test_probe_model_is_supported(
    tmp_path: Path, cohort_dicoms: list[Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from breast_density.models.clip import load_clip
    from breast_density.models.probe import save_probe

    params = _pipeline_folder(tmp_path, cohort_dicoms, monkeypatch)
    embed_dim = load_clip(params["embed"]["model"]).embed_dim
    save_probe(
        Path("models/probe"),
        torch.nn.Linear(embed_dim, len(CLASSES)),
        {
            "classes": CLASSES,
            "in_features": embed_dim,
            "embedding_model": params["embed"]["model"],
            "embedding_pretrained": None,
            "embedding_revision": None,
            "untrained_embeddings": True,
            "training": {"seed": 42},
        },
    )
    code = cli_main(["predict", str(cohort_dicoms[0]), "--model", "models/probe", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    [result] = json.loads(out.out)
    assert result["density"] in CLASSES

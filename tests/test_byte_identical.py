"""The data stages write the same bytes on any x86-64 CPU.

numpy, OpenCV and glibc's libm pick SIMD kernels when a process starts; NPY_DISABLE_CPU_FEATURES,
OPENCV_CPU_DISABLE and GLIBC_TUNABLES make them pick the baseline ones, which is what another CPU would run.
Each check runs the same work twice in fresh processes, once as this machine runs it and once as such an
"other CPU" (also with one BLAS/OpenMP thread, another worker count and another hash seed), and compares the
bytes of every file written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import yaml
from pydicom.pixels import pixel_array
from pydicom.uid import JPEG2000Lossless

from breast_density.cohort.vendors import VENDORS, DicomHeader, write_dicom

REPO = Path(__file__).resolve().parents[1]


def _other_cpu_env() -> dict[str, str]:
    """Environment that turns off every SIMD extension numpy and OpenCV would dispatch to on this CPU.

    It also fixes a hash seed (the first run has a random one), so set and dict order cannot leak into files.
    """
    import cv2
    from numpy._core import _multiarray_umath as umath

    numpy_off = [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)]
    # OpenCV lists dispatched features with a '*' prefix and a '?' suffix when this CPU lacks them.
    opencv_off = [
        tok[1:] for tok in cv2.getCPUFeaturesLine().split() if tok.startswith("*") and not tok.endswith("?")
    ]
    return {
        "NPY_DISABLE_CPU_FEATURES": " ".join(numpy_off),
        "OPENCV_CPU_DISABLE": ",".join(opencv_off),
        # glibc's libm (exp, pow, sin, ... under numpy's float64 loops and OpenCV's kernels) has FMA/AVX2
        # variants that differ in the last bit too; unknown names are ignored on other glibc versions.
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONHASHSEED": "12345",
    }


def _run(script: str, cwd: Path, extra_env: dict[str, str], *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1", **extra_env}
    proc = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"subprocess failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _digests(root: Path, folders: tuple[str, ...]) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted((root / folder).rglob("*"))
        if path.is_file()
    }


def _assert_same(here: dict[str, str], other: dict[str, str]) -> None:
    assert here, "nothing was written"
    assert sorted(here) == sorted(other), "the two runs wrote different files"
    differing = sorted(name for name in here if here[name] != other[name])
    assert not differing, f"{len(differing)} of {len(here)} files differ on the other CPU: {differing[:10]}"


# Fast check: the cohort renderer and encoders (DICOM, RLE, JPEG 2000) and the harmonisation of each image
# (decode, mask, resize, histogram match, PNG), through the library functions on a tiny cohort.
_LIBRARY_SCRIPT = """
import sys
from pathlib import Path

import cv2

from breast_density import reproducible
from breast_density.cohort.generate import generate_cohort
from breast_density.imaging.harmonize import reference_edges
from breast_density.imaging.spec import build_spec, harmonize_file
from breast_density.io import read_csv
from breast_density.params import CohortParams

workers = int(sys.argv[1])
cfg = CohortParams(exams=3, scale=0.06, workers=workers, class_prior=[0.25, 0.25, 0.25, 0.25])
generate_cohort(cfg, 8, Path("cohort"), Path("truth"))  # seed 8: one exam per vendor
Path("png").mkdir()
spec = build_spec(64, 8, "image", reference_edges(), {})
for row in read_csv(Path("truth/images.csv")).itertuples():
    image = harmonize_file(row.path, row.laterality, "", spec).image
    ok, encoded = cv2.imencode(".png", image, reproducible.PNG_PARAMS)
    Path("png", Path(row.path).stem + row.exam_id + ".png").write_bytes(encoded.tobytes())
"""


def _library_run(tmp: Path, extra_env: dict[str, str], workers: int) -> dict[str, str]:
    tmp.mkdir()
    _run(_LIBRARY_SCRIPT, tmp, extra_env, str(workers))
    return _digests(tmp, ("cohort", "truth", "png"))


def test_cohort_and_harmonised_images_are_identical_on_another_cpu(tmp_path: Path) -> None:
    here = _library_run(tmp_path / "here", {}, workers=2)
    other = _library_run(tmp_path / "other", _other_cpu_env(), workers=1)
    assert any(name.endswith(".dcm") for name in here) and any(name.endswith(".png") for name in here)
    _assert_same(here, other)
    # No library version in the files either: an upgraded pydicom or OpenJPEG must not change them.
    for name in (n for n in here if n.endswith(".dcm")):
        meta = pydicom.dcmread(tmp_path / "here" / name, stop_before_pixels=True).file_meta
        assert pydicom.__version__ not in str(meta.get("ImplementationVersionName", "")), name
        assert b"OpenJPEG" not in (tmp_path / "here" / name).read_bytes(), name


# Slow check: the eight data stages themselves, as `dvc repro` runs them, on a cohort just big enough for
# every class to reach the test split.
DATA_STAGES = ("cohort", "ingest", "normalize", "translate", "label", "harmonize", "balance", "split")
_STAGES_SCRIPT = (
    f"from breast_density.stages import {', '.join(DATA_STAGES)}\n"
    f"for stage in ({', '.join(DATA_STAGES)}):\n"
    "    stage.main()\n"
)
_TINY = {
    ("cohort", "exams"): 40,
    ("cohort", "class_prior"): [0.25, 0.25, 0.25, 0.25],
    ("cohort", "repeat_patient_rate"): 0.0,
    ("cohort", "no_statement_rate"): 0.05,
    ("split", "test_fraction"): 0.34,
    ("split", "val_fraction"): 0.5,
}
_WORKER_SECTIONS = ("cohort", "ingest", "harmonize")


def _stages_run(root: Path, extra_env: dict[str, str], workers: int) -> Path:
    root.mkdir()
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for (section, key), value in _TINY.items():
        params[section][key] = value
    for section in _WORKER_SECTIONS:
        params[section]["workers"] = workers
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run(_STAGES_SCRIPT, root, extra_env)
    return root


@pytest.fixture(scope="module")
def stage_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("stages")
    return _stages_run(base / "here", {}, workers=2), _stages_run(base / "other", _other_cpu_env(), workers=1)


@pytest.mark.slow
def test_data_stages_write_identical_bytes_on_another_cpu(stage_runs: tuple[Path, Path]) -> None:
    here, other = stage_runs
    digests = _digests(here, ("data", "metrics", "plots"))
    assert any(name.startswith("data/processed/split/") for name in digests), "split wrote nothing"
    _assert_same(digests, _digests(other, ("data", "metrics", "plots")))


@pytest.mark.slow
def test_small_outputs_carry_no_versions_timings_or_float_noise(stage_runs: tuple[Path, Path]) -> None:
    here, _ = stage_runs
    for png in sorted((here / "plots").glob("*.png")):
        # Text and time chunks are where encoders put versions and dates.
        assert not re.search(rb"tEXt|iTXt|zTXt|tIME", png.read_bytes()), f"{png.name} carries metadata"
    for metrics in sorted((here / "metrics").glob("*.json")):
        text = metrics.read_text()
        assert not re.search(r"second|time|duration|version|_ms\b", text, re.IGNORECASE), metrics.name
        _assert_short_floats(json.loads(text), metrics.name)


def _assert_short_floats(node: object, where: str) -> None:
    """Every float is rounded (at most 6 decimals): the last digits of a float sum are CPU noise."""
    if isinstance(node, dict):
        for key, value in node.items():
            _assert_short_floats(value, f"{where}:{key}")
    elif isinstance(node, list):
        for item in node:
            _assert_short_floats(item, where)
    elif isinstance(node, float):
        assert len(repr(node).split(".")[-1].split("e")[0]) <= 6, f"{where} = {node!r} is not rounded"


def test_j2k_comment_removal_keeps_the_pixels(tmp_path: Path) -> None:
    vendor = next(v for v in VENDORS if v.transfer_syntax == JPEG2000Lossless)
    stored = np.random.default_rng(0).integers(0, 2**vendor.bits_stored, (40, 32), dtype=np.uint16)
    header = DicomHeader(
        "P1", "DOE^JANE", "19600101", "20200101", "101010", "A1", "1.2", "1.3", "1.4", "L", "CC", 1,
        60, 50, 100, 28,
    )  # fmt: skip
    write_dicom(tmp_path / "x.dcm", stored, (100.0, 200.0), vendor, header, 0.1)
    assert b"OpenJPEG" not in (tmp_path / "x.dcm").read_bytes()
    assert np.array_equal(pixel_array(tmp_path / "x.dcm"), stored)

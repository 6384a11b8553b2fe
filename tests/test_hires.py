"""High-resolution options: 2048 px 16-bit harmonisation, the keep_aspect geometry with a non-square ConvNeXt
input, precision / checkpointing / memory-format settings, and predict seeing the training tensor."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from breast_density.data.datasets import HarmonizedImages, fit_geometry, load_grayscale_png
from breast_density.imaging.harmonize import BINS, LEVELS, harmonize_details, histogram_cdf
from breast_density.imaging.spec import build_spec, write_spec
from breast_density.models.augment import eval_transform
from breast_density.models.convnext import load_bundle
from breast_density.models.devices import autocast, uses_bf16
from breast_density.models.predict import load_predictor
from breast_density.params import ParamsError, parse_params
from breast_density.stages import finetune
from imaging_fixtures import curve_mono2, phantom
from test_finetune import CLASSES, _stage_params, make_cohort, one_thread  # noqa: F401 (autouse fixture)

# ---- parameters ----


def test_harmonize_size_up_to_2048_is_accepted_and_larger_is_named():
    assert parse_params({"harmonize": {"size": 2048, "bit_depth": 16}}).harmonize.size == 2048
    with pytest.raises(ParamsError, match=r"harmonize\.size must be within \[16, 2048\].*4096"):
        parse_params({"harmonize": {"size": 4096}})


def test_img_size_takes_an_int_or_height_width():
    assert parse_params({"finetune": {"img_size": 224}}).finetune.input_hw == (224, 224)
    params = parse_params({"geometry": "keep_aspect", "finetune": {"img_size": [1024, 832]}})
    assert params.finetune.input_hw == (1024, 832) and params.geometry == "keep_aspect"
    for bad in ([1024], [1024, 832, 3], [1024, 16]):
        with pytest.raises(ParamsError, match=r"finetune\.img_size"):
            parse_params({"finetune": {"img_size": bad}})
    with pytest.raises(ParamsError, match=r"finetune\.precision"):
        parse_params({"finetune": {"precision": "fp16"}})


def test_auto_precision_is_bf16_on_cuda_only_and_bf16_autocasts_on_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not uses_bf16(cpu) and uses_bf16(cuda) and uses_bf16(cpu, "bf16") and not uses_bf16(cuda, "fp32")
    layer = torch.nn.Linear(4, 2)
    with autocast(cpu, "bf16"):
        assert layer(torch.ones(1, 4)).dtype == torch.bfloat16
    with autocast(cpu):
        assert layer(torch.ones(1, 4)).dtype == torch.float32


# ---- geometry ----


def test_keep_aspect_pads_only_the_short_remainder_and_keeps_every_pixel():
    crop = np.arange(1, 41 * 30 + 1, dtype=np.uint16).reshape(41, 30)  # taller than wide, no zero pixel
    wide_input = fit_geometry(crop, "keep_aspect", (1024, 832))  # 1.23 < 41/30: pad the width
    assert wide_input.shape == (41, round(41 * 832 / 1024))
    tall_input = fit_geometry(crop, "keep_aspect", (64, 32))  # 2.0 > 41/30: pad the height
    assert tall_input.shape == (60, 30)
    for out in (wide_input, tall_input):
        assert out.dtype == crop.dtype and np.count_nonzero(out) == crop.size
        assert sorted(out[out > 0]) == sorted(crop.ravel())
    # a square input is the letterbox; letterbox ignores the input size
    square = fit_geometry(crop, "keep_aspect", (64, 64))
    np.testing.assert_array_equal(square, fit_geometry(crop, "letterbox"))
    with pytest.raises(ValueError, match="keep_aspect needs the model's input size"):
        fit_geometry(crop, "keep_aspect")


# ---- 2048 px, 16-bit harmonisation ----


def test_2048_px_16_bit_harmonisation_keeps_the_background_zero_in_bounded_memory(tmp_path: Path):
    small, _, _ = phantom(shape=(650, 525), density=0.3, seed=3)
    # upsampled to a full-field detector matrix (rendering the phantom at that size takes seconds)
    pixels = curve_mono2(cv2.resize(small, (2100, 2600), interpolation=cv2.INTER_NEAREST))
    tracemalloc.start()
    result = harmonize_details(pixels, "L", histogram_cdf(np.ones(BINS)), 2048, 16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out, mask = result.image, result.prepared.mask
    assert out.dtype == np.uint16 and max(out.shape) == 2048
    assert (out[~mask] == 0).all() and (out[mask] >= 1).all()
    assert out.max() > 60000  # the 16-bit range is used, not an 8-bit image widened
    # numpy working memory stays a bounded multiple of the decoded input (11 MB here; measured ~13x): a
    # few hundred MB per harmonize worker for a 4096 x 3328 detector image
    assert peak < 16 * pixels.nbytes, f"peak {peak / 2**20:.0f} MiB"
    # the stored PNG reads back at full depth, and the models' reader scales it to 8 bits
    path = tmp_path / "h.png"
    cv2.imwrite(str(path), out)
    assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), out)
    assert load_grayscale_png(path).max() == out.max() >> 8


# ---- finetune at a non-square input, predict from the bundle ----


def _run_stage(tmp_path: Path, **finetune_settings) -> dict[str, Path]:
    frame = make_cohort(tmp_path, {"train": 2, "val": 1, "test": 2})
    frame.to_csv(tmp_path / "split.csv", index=False)
    # predict needs a real recipe; its values do not matter here (the test feeds harmonised images)
    write_spec(
        tmp_path / "spec.json",
        build_spec(64, 8, "vendor", histogram_cdf(np.ones(BINS)), {"v": np.ones(LEVELS)}),
    )
    params = parse_params({**_stage_params(**finetune_settings).model_dump(), "geometry": "keep_aspect"})
    out = {"model_dir": tmp_path / "m", "predictions_csv": tmp_path / "p.csv"}
    finetune.run(params, tmp_path / "split.csv", tmp_path / "spec.json", live_dir=None,
                 resume_dir=tmp_path / "r", root=tmp_path, **out)  # fmt: skip
    return out


def test_keep_aspect_bundle_predicts_on_the_training_tensor_with_bf16_checkpointing(tmp_path: Path):
    size = [64, 32]
    out = _run_stage(
        tmp_path,
        img_size=size,
        max_epochs=1,
        precision="bf16",
        grad_checkpointing=True,
        channels_last=True,
    )
    predictor = load_predictor(out["model_dir"], torch.device("cpu"))
    assert predictor.geometry == "keep_aspect" and predictor.input_size == (64, 32)
    assert predictor.precision == "bf16"

    test_rows = pd.read_csv(tmp_path / "split.csv").query("partition == 'test'")
    paths = [str(tmp_path / p) for p in test_rows["path"]]
    data = load_bundle(out["model_dir"])[1]["data_config"]
    assert data["input_size"] == [3, 64, 32]
    # the stage's own test dataset, as finetune.run builds it
    staged = HarmonizedImages(
        test_rows.assign(path=paths),
        eval_transform(size, data["mean"], data["std"], data["interpolation"]),
        CLASSES,
        "keep_aspect",
        (64, 32),
    )
    expected = torch.stack([staged[i][0] for i in range(len(staged))])
    served = predictor.model_input([load_grayscale_png(p) for p in paths])
    assert served.shape == (len(paths), 3, 64, 32)
    torch.testing.assert_close(served, expected, rtol=0, atol=0)
    # and the probabilities predict serves are the stage's test predictions
    stage_probs = pd.read_csv(out["predictions_csv"])[[f"p_{c}" for c in CLASSES]].to_numpy()
    served_probs = predictor.probabilities([load_grayscale_png(p) for p in paths])
    np.testing.assert_allclose(served_probs, stage_probs, atol=2e-3)

"""ConvNeXt factory: construction without weights, weight resolution, data config, saved bundle."""

from __future__ import annotations

import time

import pytest
import torch

from breast_density.models import convnext
from breast_density.models.convnext import (
    WeightsUnavailableError,
    create_convnext,
    load_bundle,
    model_data_config,
    save_bundle,
)
from breast_density.params import Params, read_yaml_mapping


def test_tiny_convnext_forward_shape_and_finite() -> None:
    model = create_convnext("convnext_atto", 3).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3)
    assert torch.isfinite(out).all()


def test_paper_architecture_constructible_without_weights() -> None:
    arch = Params().finetune.arch
    try:
        arch = read_yaml_mapping("profiles/paper.yaml")["finetune"]["arch"]
    except (OSError, KeyError):
        arch = "convnext_base.fb_in22k_ft_in1k"  # the study's model, while the profile file is absent
    model = create_convnext(arch, 4, pretrained=False)
    assert model.num_classes == 4
    assert sum(p.numel() for p in model.parameters()) > 80_000_000  # ConvNeXt-Base, not a tiny stand-in


def test_missing_weights_offline_fails_fast_and_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(convnext, "cached_weights", lambda arch: None)
    started = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as err:
        create_convnext("convnext_atto", 4, pretrained=True)
    assert time.monotonic() - started < 10  # no network retry loop
    message = str(err.value)
    assert "convnext_atto" in message and "finetune.checkpoint" in message


def test_explicit_checkpoint_file_is_loaded_and_head_replaced(tmp_path) -> None:
    source = create_convnext("convnext_atto", 7)
    weights = tmp_path / "atto.pth"
    torch.save(source.state_dict(), weights)
    model = create_convnext("convnext_atto", 4, checkpoint=str(weights))
    assert torch.equal(model.stem[0].weight, source.stem[0].weight)
    assert model.head.fc.out_features == 4


def test_missing_checkpoint_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.pth"):
        create_convnext("convnext_atto", 4, checkpoint=str(tmp_path / "nope.pth"))


def test_unknown_arch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown timm architecture 'convnext_hyper'"):
        create_convnext("convnext_hyper", 4)


def test_data_config_comes_from_timm_with_requested_size() -> None:
    cfg = model_data_config(create_convnext("convnext_atto", 4), 96)
    assert cfg["input_size"] == [3, 96, 96]
    assert cfg["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert cfg["interpolation"] == "bicubic"


def test_bundle_round_trip(tmp_path) -> None:
    model = create_convnext("convnext_atto", 3).eval()
    save_bundle(tmp_path, model, {"arch": "convnext_atto", "class_names": ["x", "y", "z"]})
    loaded, config = load_bundle(tmp_path)
    assert config["class_names"] == ["x", "y", "z"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])

"""Parameter profiles: keys exist and validate, switching is byte-exact and reversible, models build."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from breast_density.cli import main as cli_main
from breast_density.commands.profile import apply_profile, flatten, profile_path, render_value, switch_profile
from breast_density.params import ParamsError, load_params, parse_params, read_yaml_mapping

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted((REPO / "profiles").glob("*.yaml"))
PARAMS_TEXT = (REPO / "params.yaml").read_bytes().decode("utf-8")


def test_the_paper_hires_and_demo_profiles_exist():
    assert {p.stem for p in PROFILES} >= {"paper", "hires", "demo"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_every_profile_key_exists_in_params_and_the_result_validates(profile):
    values = read_yaml_mapping(profile)
    updated, _ = apply_profile(PARAMS_TEXT, values, profile.name)  # raises on a key params.yaml lacks
    params = parse_params(yaml.safe_load(updated), profile.name)
    for path, value in flatten(values).items():
        node = params
        for part in path:
            node = getattr(node, part)
        assert node == value, ".".join(path)


def test_demo_profile_holds_the_current_params_values_for_the_keys_paper_and_hires_set():
    paper = flatten(read_yaml_mapping(REPO / "profiles/paper.yaml"))
    hires = flatten(read_yaml_mapping(REPO / "profiles/hires.yaml"))
    demo = flatten(read_yaml_mapping(REPO / "profiles/demo.yaml"))
    assert set(demo) == set(paper) == set(hires)  # so switching between any two leaves nothing behind
    _, changes = apply_profile(PARAMS_TEXT, read_yaml_mapping(REPO / "profiles/demo.yaml"))
    assert changes == []


def test_paper_profile_is_the_study_configuration():
    paper = flatten(read_yaml_mapping(REPO / "profiles/paper.yaml"))
    assert paper[("embed", "model")] == "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    assert paper[("finetune", "arch")] == "convnext_base.fb_in22k_ft_in1k"
    assert paper[("finetune", "pretrained")] is True
    assert paper[("finetune", "lr")] == paper[("probe", "lr")] == 1e-4
    assert paper[("probe", "weight_decay")] == 1e-3
    assert not any(key[0] in {"cohort", "data", "classes"} for key in paper)


def test_paper_profile_marks_every_value_the_study_does_not_state():
    # values the study leaves open: each must be set explicitly and carry a "chosen:" comment saying why
    chosen = {
        ("embed", "revision"),
        ("finetune", "weight_decay"),
        *(("finetune", "augment", k) for k in ("hflip", "rotate_degrees", "scale", "translate")),
        *(("finetune", "augment", k) for k in ("brightness", "contrast")),
        ("translate", "backend"),
    }
    paper = flatten(read_yaml_mapping(REPO / "profiles/paper.yaml"))
    assert chosen <= set(paper)
    assert all(paper[k] in (0.0, False) for k in chosen if k[1] == "augment")  # augmentation off
    lines = (REPO / "profiles/paper.yaml").read_text().splitlines()
    for key in chosen:
        assert any(li.strip().startswith(f"{key[-1]}:") and "# chosen:" in li for li in lines), key


def test_hires_profile_is_convnext_base_at_1024_by_832_from_2048_px_16_bit_images():
    hires = parse_params(
        yaml.safe_load(apply_profile(PARAMS_TEXT, read_yaml_mapping(REPO / "profiles/hires.yaml"))[0])
    )
    assert hires.finetune.arch == "convnext_base.fb_in22k_ft_in1k" and hires.finetune.pretrained
    assert hires.finetune.input_hw == (1024, 832) and hires.geometry == "keep_aspect"
    assert (hires.harmonize.size, hires.harmonize.bit_depth) == (2048, 16)
    ft = hires.finetune
    assert (ft.precision, ft.grad_checkpointing, ft.channels_last) == ("bf16", True, True)
    # everything else is the paper's configuration
    paper = flatten(read_yaml_mapping(REPO / "profiles/paper.yaml"))
    text = (REPO / "profiles/hires.yaml").read_text()
    lines, root = text.splitlines(), yaml.compose(text)
    for key, value in flatten(read_yaml_mapping(REPO / "profiles/hires.yaml")).items():
        if value != paper[key]:  # each departure says why on its line
            node = root
            for part in key:
                node = next(v for k, v in node.value if k.value == part)
            assert "# hires:" in lines[node.start_mark.line], key


def test_hires_then_paper_then_demo_restores_params_byte_for_byte(tmp_path):
    params = _copy_params(tmp_path)
    original = params.read_bytes()
    switch_profile(params, REPO / "profiles/hires.yaml")
    assert load_params(params).finetune.img_size == [1024, 832]
    switch_profile(params, REPO / "profiles/paper.yaml")
    assert load_params(params).finetune.img_size == 224 and load_params(params).geometry == "letterbox"
    switch_profile(params, REPO / "profiles/demo.yaml")
    assert params.read_bytes() == original


def _copy_params(tmp_path: Path) -> Path:
    target = tmp_path / "params.yaml"
    shutil.copyfile(REPO / "params.yaml", target)
    return target


def test_paper_then_demo_restores_params_byte_for_byte(tmp_path):
    params = _copy_params(tmp_path)
    original = params.read_bytes()
    changes = switch_profile(params, REPO / "profiles/paper.yaml")
    assert changes and params.read_bytes() != original
    assert load_params(params).finetune.arch == "convnext_base.fb_in22k_ft_in1k"
    switch_profile(params, REPO / "profiles/demo.yaml")
    assert params.read_bytes() == original


def test_switch_touches_only_the_changed_lines_and_keeps_every_comment(tmp_path):
    params = _copy_params(tmp_path)
    before = params.read_text().splitlines()
    changes = switch_profile(params, REPO / "profiles/paper.yaml")
    after = params.read_text().splitlines()
    assert len(after) == len(before)
    differing = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert len(differing) == len(changes)

    def comments(lines):
        return [m.group(0) for line in lines for m in [re.search(r"#.*$", line)] if m]

    assert comments(after) == comments(before)


def test_cli_prints_the_changes_and_dry_run_writes_nothing(tmp_path, capsys):
    params = _copy_params(tmp_path)
    original = params.read_bytes()
    assert cli_main(["profile", "paper", "--params", str(params), "--dry-run"]) == 0
    assert params.read_bytes() == original
    assert "finetune.arch" in capsys.readouterr().out
    assert cli_main(["profile", "paper", "--params", str(params)]) == 0
    out = capsys.readouterr().out
    assert "convnext_atto -> convnext_base.fb_in22k_ft_in1k" in out
    assert cli_main(["profile", "paper", "--params", str(params)]) == 0
    assert "nothing changed" in capsys.readouterr().out


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match=r"no such profile \(available: .*paper"):
        profile_path("papr", REPO / "profiles")


# ---- splicing rules on small files ----


def test_unknown_key_is_named_and_the_file_is_untouched(tmp_path):
    params = _copy_params(tmp_path)
    original = params.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("finetune:\n  learning_rate: 0.1\n")
    with pytest.raises(ParamsError, match=r"bad\.yaml: key 'finetune\.learning_rate'.*not a known parameter"):
        switch_profile(params, bad)
    assert params.read_bytes() == original


def test_invalid_value_fails_validation_before_writing(tmp_path):
    params = _copy_params(tmp_path)
    original = params.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("finetune:\n  lr: 1e-4\n")  # a string for YAML 1.1 readers
    with pytest.raises(ParamsError, match=r"finetune\.lr"):
        switch_profile(params, bad)
    assert params.read_bytes() == original


def test_values_are_written_so_pyyaml_reads_them_back():
    assert render_value(1e-5) == "1.0e-05" and yaml.safe_load(render_value(1e-5)) == 1e-5
    assert render_value(None) == "null" and render_value(True) == "true"
    assert yaml.safe_load(render_value("1e-4")) == "1e-4"  # a string stays a string
    assert render_value([0.25, 0.25, 0.5]) == "[0.25, 0.25, 0.5]"


def test_comment_column_is_kept_when_the_value_fits_and_restored_when_it_was_pushed():
    text = (
        "a:\n"
        "  x: 1          # one\n"
        "  y: short      # two\n"
        "  z: [1, 2]     # three\n"
        "  v: true       # four\n"
        "  w: null\n"
    )
    longer, _ = apply_profile(text, {"a": {"y": "a-much-longer-value"}})
    assert "  y: a-much-longer-value  # two\n" in longer
    back, _ = apply_profile(longer, {"a": {"y": "short"}})
    assert back == text
    other, changes = apply_profile(text, {"a": {"z": [3, 4, 5], "w": 2.5}})
    assert "  z: [3, 4, 5]  # three\n" in other and "  w: 2.5\n" in other
    assert [c.key for c in changes] == ["a.z", "a.w"]


def test_windows_line_endings_survive(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_bytes(PARAMS_TEXT.replace("\n", "\r\n").encode())
    original = params.read_bytes()
    switch_profile(params, REPO / "profiles/paper.yaml")
    assert b"\r\n" in params.read_bytes() and b"\n" not in params.read_bytes().replace(b"\r\n", b"")
    switch_profile(params, REPO / "profiles/demo.yaml")
    assert params.read_bytes() == original


def test_multiline_value_is_refused_with_a_hint():
    text = "a:\n  items:\n    - 1\n    - 2\n"
    with pytest.raises(ParamsError, match="spans several lines"):
        apply_profile(text, {"a": {"items": [3]}}, "p.yaml")


# ---- models named in profiles build without weights ----


# BiomedCLIP-size architectures take ~25 s to build on 2 CPU cores.
MODEL_CASES = [pytest.param(p, marks=pytest.mark.slow) if p.stem == "paper" else p for p in PROFILES]


@pytest.mark.parametrize("profile", MODEL_CASES, ids=lambda p: p.stem)
def test_models_named_in_profiles_build_without_weights(profile, monkeypatch):
    torch = pytest.importorskip("torch")
    from breast_density.models.clip import build_clip_architecture
    from breast_density.models.convnext import create_convnext

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    updated, _ = apply_profile(PARAMS_TEXT, read_yaml_mapping(profile), profile.name)
    params = parse_params(yaml.safe_load(updated), profile.name)
    clip = build_clip_architecture(params.embed.model)
    assert sum(p.numel() for p in clip.parameters()) > 0
    net = create_convnext(params.finetune.arch, num_classes=len(params.classes), pretrained=False)
    with torch.no_grad():
        logits = net.eval()(torch.zeros(1, 3, 64, 64))
    assert logits.shape == (1, len(params.classes))
    assert torch.isfinite(logits).all()

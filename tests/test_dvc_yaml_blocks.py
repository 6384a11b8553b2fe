"""dvc.yaml's top-level blocks point at what the stages really write: declared metrics, model artifacts and
the offline plots page that .dvc/config hands to `dvc plots show`."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from dvc_yaml import ROOT, entry_path, expanded_stages

SPEC = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))


def _outs() -> set[str]:
    return {entry_path(out) for stage in expanded_stages().values() for out in stage.get("outs", [])}


def test_declared_metrics_are_only_the_per_arm_files_and_evaluate_writes_them() -> None:
    assert SPEC["metrics"] == ["metrics/arms"]
    assert "metrics/arms" in _outs()


def test_every_model_artifact_is_a_stage_output_with_type_description_and_labels() -> None:
    artifacts = SPEC["artifacts"]
    assert {a["path"] for a in artifacts.values()} >= {"models/finetune", "models/probe/base", "models/adapt"}
    for name, artifact in artifacts.items():
        assert artifact["path"] in _outs(), f"{name}: {artifact['path']} is no stage's output"
        assert artifact["type"] == "model" and artifact["desc"] and artifact["labels"], name


def test_plots_html_template_is_the_plots_template_stage_output() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc/config")
    template = (ROOT / ".dvc" / config["plots"]["html_template"]).resolve()
    out = Path(SPEC["stages"]["plots_template"]["outs"][0])
    assert (ROOT / out).resolve() in template.parents


def test_lock_file_holds_only_stages_dvc_yaml_defines() -> None:
    # DVC keeps a renamed stage's old lock entry; every stale entry is parsed again on each `dvc repro`.
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text(encoding="utf-8"))
    stale = set(lock["stages"]) - set(expanded_stages())
    assert not stale, f"dvc.lock has entries for stages dvc.yaml no longer defines: {sorted(stale)}"

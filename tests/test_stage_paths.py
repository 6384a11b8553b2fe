"""Every path a stage's main() hands to its run() is declared in dvc.yaml for that stage: inputs as deps,
outputs as outs. Captured by calling main() with run() replaced, so the check follows the code as it moves."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import sys
from pathlib import Path

import pytest

from breast_density import paths
from breast_density.params import load_params
from dvc_yaml import ROOT, entry_path, expanded_stages

STAGES = expanded_stages()


def _declared(entries: list) -> list[Path]:
    return [Path(entry_path(e)) for e in entries or []]


def _paths_in(value: object) -> list[Path]:
    if isinstance(value, Path):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value) for p in _paths_in(getattr(value, f.name))]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths_in(v)]
    if isinstance(value, list | tuple):
        return [p for v in value for p in _paths_in(v)]
    return []


def _covered(path: Path, declared: list[Path]) -> bool:
    return any(path == d or d in path.parents for d in declared)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_main_passes_only_paths_dvc_yaml_declares(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = STAGES[stage]
    module = importlib.import_module(f"breast_density.stages.{stage.split('@')[0]}")
    calls: list[tuple[tuple, dict]] = []
    params = load_params(ROOT / paths.PARAMS)
    monkeypatch.setattr(module, "stage_setup", lambda _name: params)
    monkeypatch.setattr(module, "run", lambda *a, **k: calls.append((a, k)))
    if hasattr(module, "repeat_splits"):  # extra splits (split.repeats > 1) rerun the same paths
        monkeypatch.setattr(module, "repeat_splits", lambda _csv: contextlib.nullcontext([]))
    argv = ["stage"] + ([spec["key"]] if spec.get("key") and spec["key"] in spec["cmd"].split() else [])
    monkeypatch.setattr(sys, "argv", argv)
    module.main()
    assert len(calls) == 1, f"{stage}: main() should call run() once"
    handed = _paths_in(list(calls[0][0]) + list(calls[0][1].values()))
    assert handed, f"{stage}: main() passed no path to run()"
    root = Path(params.data.root)
    declared = _declared(spec.get("deps")) + _declared(spec.get("outs")) + [root]
    undeclared = [p.as_posix() for p in handed if not _covered(p, declared)]
    assert not undeclared, f"{stage}: paths missing from dvc.yaml deps/outs: {undeclared}"
    # Every declared data out is something the stage is told to write (no stale declarations).
    outs = [o for o in _declared(spec.get("outs")) if o.parts[0] in {"data", "models"}]
    written = [o for o in outs if not any(o == p or o in p.parents for p in handed)]
    assert not written, f"{stage}: dvc.yaml declares outs that main() never hands to run(): {written}"

"""dvc.yaml's stages as DVC expands them: each `foreach` item becomes `<stage>@<key>` with `${key}` and
`${item...}` filled in from params.yaml (enough for the checks here; DVC itself does the real templating)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
_TEMPLATE = re.compile(r"\$\{([\w.]+)\}")


def _lookup(data: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        data = data[key]
    return data


def _fill(value: Any, scope: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole and not isinstance(_lookup(scope, whole.group(1)), str | int | float):
            return _lookup(scope, whole.group(1))
        return _TEMPLATE.sub(lambda m: str(_lookup(scope, m.group(1))), value)
    if isinstance(value, list):
        return [_fill(v, scope) for v in value]
    if isinstance(value, dict):
        return {_fill(k, scope): _fill(v, scope) for k, v in value.items()}
    return value


def expanded_stages(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """name -> stage spec (cmd, deps, params, outs), foreach items expanded; `key` is the foreach key."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    stages: dict[str, dict[str, Any]] = {}
    for name, stage in spec.items():
        if "foreach" not in stage:
            stages[name] = stage
            continue
        items = _fill(stage["foreach"], params)
        pairs = items.items() if isinstance(items, dict) else ((i, i) for i in items)
        for key, item in pairs:
            scope = {**params, "key": key, "item": item}
            stages[f"{name}@{key}"] = {**_fill(stage["do"], scope), "key": str(key)}
    return stages


def entry_path(entry: str | dict) -> str:
    """The path of a deps/outs entry (a string, or a one-key mapping with options)."""
    return entry if isinstance(entry, str) else next(iter(entry))

"""`breast-density profile NAME`: switch params.yaml to a named parameter set (profiles/<NAME>.yaml).

Only the values the profile sets are rewritten, in place, so every comment, blank line and key order in
params.yaml survives and DVC sees exactly the changed parameters. A full YAML round trip (ruamel.yaml) was
tried and rejected: it rewrites `null` as an empty value and moves end-of-line comments, so switching to a
profile and back would not restore the file byte for byte. Instead PyYAML's composer gives the exact span
of every value, and only those spans are replaced.

The result is validated with `parse_params` before the file is (atomically) replaced.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from breast_density import paths
from breast_density.io import write_bytes
from breast_density.params import Params, ParamsError, parse_params, read_yaml_mapping

COMMENT_GAP = 2  # spaces between a value and its end-of-line comment when the usual column is taken
_TAIL = re.compile(r"(?P<gap>[ \t]*)(?P<comment>#.*)?$")


@dataclass(frozen=True)
class Change:
    key: str
    old: Any
    new: Any


def profile_path(name: str, profiles_dir: Path = paths.PROFILES) -> Path:
    """profiles/<name>.yaml, or `name` itself when it is a path to a YAML file."""
    path = Path(name) if name.endswith((".yaml", ".yml")) else profiles_dir / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in profiles_dir.glob("*.yaml"))
        raise FileNotFoundError(f"{path}: no such profile (available: {', '.join(known) or 'none'})")
    return path


def flatten(mapping: dict, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Nested sections to dotted leaves; a list is one leaf (a profile replaces it whole)."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in mapping.items():
        path = (*prefix, str(key))
        if isinstance(value, dict) and value:
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def _is_known_key(path: tuple[str, ...]) -> bool:
    model: Any = Params
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields):
            return False
        model = model.model_fields[part].annotation
    return True


def _value_node(root: yaml.Node, path: tuple[str, ...]) -> yaml.Node | None:
    node = root
    for part in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == part), None)
        if node is None:
            return None
    return node


def render_value(value: Any) -> str:
    """One-line YAML for a leaf, written by PyYAML so PyYAML reads it back identically (1e-05 -> 1.0e-05)."""
    flow = None if isinstance(value, (list, dict)) else False
    text = yaml.safe_dump({"k": value}, default_flow_style=flow, width=float("inf"), allow_unicode=True)
    body = text.removeprefix("k: ").removesuffix("\n")
    if "\n" in body or yaml.safe_load(body) != value:
        raise ValueError(f"cannot write {value!r} as a one-line YAML value")
    return body


def _usual_comment_column(lines: list[str]) -> int | None:
    """The column most end-of-line comments start at (params.yaml aligns them), if there is one."""
    columns = Counter()
    for line in lines:
        match = re.match(r"^(\s*[^#\s][^#]*?\S)(\s+)#", line)
        if match and ":" in match.group(1):
            columns[len(match.group(1)) + len(match.group(2))] += 1
    if not columns:
        return None
    column, count = columns.most_common(1)[0]
    return column if count >= 3 else None


def apply_profile(params_text: str, profile: dict, profile_name: str = "profile") -> tuple[str, list[Change]]:
    """Return params_text with the profile's values spliced in, and the list of actual changes."""
    root = yaml.compose(params_text)
    current = yaml.safe_load(params_text) or {}
    if root is None or not isinstance(root, yaml.MappingNode):
        raise ParamsError("params file: top level must be a mapping of sections")
    lines = params_text.splitlines(keepends=True)
    usual_column = _usual_comment_column([line.rstrip("\r\n") for line in lines])
    line_starts = [0]
    for line in lines:
        line_starts.append(line_starts[-1] + len(line))

    splices: list[tuple[int, int, str]] = []
    changes: list[Change] = []
    for path, new in flatten(profile).items():
        key = ".".join(path)
        node = _value_node(root, path)
        if node is None:
            why = "" if _is_known_key(path) else " and is not a known parameter"
            raise ParamsError(f"{profile_name}: key '{key}' is not in the params file{why}")
        old = current
        for part in path:
            old = old[part]
        if old == new and type(old) is type(new):
            continue
        if node.start_mark.line != node.end_mark.line:
            raise ParamsError(
                f"{profile_name}: key '{key}' spans several lines in the params file; a profile can only "
                "replace one-line values (write it in flow style, e.g. [a, b], first)"
            )
        text = render_value(new)
        row = node.start_mark.line
        line = lines[row].rstrip("\r\n")
        start, end = node.start_mark.column, node.end_mark.column
        tail = _TAIL.match(line[end:])
        if tail is None:  # something other than a comment follows the value; replace the value only
            splices.append((line_starts[row] + start, line_starts[row] + end, text))
        else:
            gap = len(tail.group("gap"))
            if tail.group("comment"):
                old_column = end + gap
                # A comment pushed right by a long value returns to the file's usual column when it fits.
                aligned = gap > COMMENT_GAP or usual_column is None
                target = old_column if aligned else usual_column
                gap = max(target - (start + len(text)), COMMENT_GAP)
            else:
                gap = 0
            splices.append((line_starts[row] + start, line_starts[row] + end + len(tail.group("gap")),
                            text + " " * gap))  # fmt: skip
        changes.append(Change(key, old, new))

    out = params_text
    for begin, stop, text in sorted(splices, reverse=True):
        out = out[:begin] + text + out[stop:]
    return out, changes


def switch_profile(params_file: Path, profile_file: Path, *, dry_run: bool = False) -> list[Change]:
    """Rewrite params_file with profile_file's values; validate before writing; return what changed."""
    profile = read_yaml_mapping(profile_file)
    if not params_file.is_file():
        raise ParamsError(f"{params_file}: parameter file not found (run from the repository root)")
    # Bytes, not text mode: line endings and everything around the changed values stay as they are.
    original = params_file.read_bytes().decode("utf-8")
    updated, changes = apply_profile(original, profile, str(profile_file))
    parse_params(yaml.safe_load(updated), f"{params_file} with {profile_file} applied")
    check = yaml.safe_load(updated)
    for change in changes:  # guards the splicing itself: the file must now read back the profile's values
        value = check
        for part in change.key.split("."):
            value = value[part]
        if value != change.new:
            raise RuntimeError(f"{params_file}: '{change.key}' reads back as {value!r}, not {change.new!r}")
    if changes and not dry_run:
        write_bytes(params_file, updated.encode("utf-8"))
    return changes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="profile name (profiles/<name>.yaml, e.g. paper or demo) or a YAML path")
    parser.add_argument("--params", type=Path, default=paths.PARAMS, help="parameter file to rewrite")
    parser.add_argument("--dry-run", action="store_true", help="show the changes without writing them")


def profile_command(args: argparse.Namespace) -> int:
    profile_file = profile_path(args.name)
    changes = switch_profile(args.params, profile_file, dry_run=args.dry_run)
    if not changes:
        print(f"{args.params} already matches {profile_file}; nothing changed")
        return 0
    verb = "would change" if args.dry_run else "changed"
    print(f"{args.params}: {verb} {len(changes)} value(s) from {profile_file}:")
    width = max(len(c.key) for c in changes)
    for c in changes:
        print(f"  {c.key:<{width}}  {render_value(c.old)} -> {render_value(c.new)}")
    if not args.dry_run:
        print("Next: `dvc status` shows the stages these values invalidate; `dvc repro` reruns them.")
    return 0

"""The project files a stage module executes: its transitive imports inside the package, with every package
`__init__.py` on the way that holds code (an empty one executes nothing), and the packaged resource files
those modules name. dvc.yaml's code deps must equal this set, so that editing a file reruns exactly the
stages that run it.

`python tests/import_closure.py` rewrites the `src/` deps of every stage in dvc.yaml to this set (the other
deps and the file's layout stay as they are); `--check` only reports the stages that disagree.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = "breast_density"
RESOURCES = SRC / PACKAGE / "resources"
DOTTED = re.compile(rf"{PACKAGE}(\.\w+)+(:\w+)?")


def module_file(name: str) -> Path | None:
    """The file of a module or package of the project, or None for anything outside it."""
    if name != PACKAGE and not name.startswith(PACKAGE + "."):
        return None
    base = SRC.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def direct_imports(path: Path) -> frozenset[str]:
    """Project modules `path` imports anywhere in its body: lazy imports inside functions count (they run),
    and so do "package.module:function" strings of a registry imported by name."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and DOTTED.fullmatch(node.value):
            names = [node.value.split(":")[0]]  # "module:function" registries imported by name
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import name` imports pkg.name when that is a module, else an attribute of pkg.
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            for candidate in _with_parents(name):
                if module_file(candidate) is not None:
                    found.add(candidate)
    return frozenset(found)


def resource_names(path: Path) -> set[str]:
    """Packaged resource files a module names in a string literal (read through importlib.resources)."""
    shipped = {p.name for p in RESOURCES.iterdir() if p.is_file() and p.suffix != ".py"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in shipped
    }


def executes_nothing(path: Path) -> bool:
    """An empty module (or only a docstring): editing it into something that runs changes the closure, so the
    check that dvc.yaml lists the closure catches it; until then it is no dependency worth hashing."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    docstring = bool(body) and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
    return len(body) == int(docstring)


def closure(module: str) -> set[Path]:
    """Every project file executed by importing `module`, plus the resource files those files name."""
    seen: set[str] = set()
    todo = _with_parents(module)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(direct_imports(module_file(name)) - seen)
    files = {f for f in map(module_file, seen) if not executes_nothing(f)}
    resources = {RESOURCES / r for f in files for r in resource_names(f)}
    return files | resources


def stage_code_deps(stage: str) -> list[str]:
    """The sorted repo-relative code deps stage `stage` must list in dvc.yaml."""
    return sorted(p.relative_to(ROOT).as_posix() for p in closure(f"{PACKAGE}.stages.{stage}"))


STAGE_MODULE = re.compile(rf"{PACKAGE}\.stages\.(\w+)")


def rewrite_dvc_yaml(text: str) -> tuple[str, list[str]]:
    """dvc.yaml with each stage's `src/` deps replaced by its closure; also the stages that changed."""
    out: list[str] = []
    changed: list[str] = []
    stage = module = None
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        line = lines[i]
        head = re.match(r"^  (\w[\w-]*):\s*$", line)
        if head:
            stage, module = head.group(1), None
        cmd = STAGE_MODULE.search(line) if "cmd:" in line else None
        if cmd:
            module = cmd.group(1)
        out.append(line)
        deps = re.match(r"^(\s+)deps:\s*$", line)
        if deps and module:
            item = deps.group(1) + "  - "
            block: list[str] = []
            i += 1
            while i < len(lines) and lines[i].startswith(item):
                block.append(lines[i])
                i += 1
            old = [b for b in block if b[len(item) :].startswith("src/")]
            rest = [b for b in block if b not in old]
            new = [f"{item}{d}\n" for d in stage_code_deps(module)]
            if [o.split("#")[0].rstrip() for o in old] != [n.rstrip() for n in new]:
                changed.append(stage or module)
            out.extend(new + rest)
            continue
        i += 1
    return "".join(out), changed


if __name__ == "__main__":
    dvc_yaml = ROOT / "dvc.yaml"
    text, changed = rewrite_dvc_yaml(dvc_yaml.read_text(encoding="utf-8"))
    if "--check" in sys.argv[1:]:
        print(
            "\n".join(f"{s}: code deps differ from the import closure" for s in changed) or "all stages agree"
        )
        sys.exit(1 if changed else 0)
    dvc_yaml.write_text(text, encoding="utf-8")
    print("rewrote the code deps of: " + (", ".join(changed) or "nothing"))

"""dvc.yaml's code deps are each stage's import closure, so editing a file reruns exactly what runs it."""

from __future__ import annotations

import yaml

from import_closure import ROOT, STAGE_MODULE, closure, rewrite_dvc_yaml, stage_code_deps


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    return {name: spec.get("do", spec) for name, spec in stages.items()}


def _dep_paths(spec: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in spec.get("deps", [])]


def test_every_stage_lists_exactly_its_import_closure() -> None:
    wrong = {}
    for name, spec in _stages().items():
        module = STAGE_MODULE.search(spec["cmd"]).group(1)
        listed = sorted(d for d in _dep_paths(spec) if d.startswith("src/"))
        expected = stage_code_deps(module)
        if listed != expected:
            wrong[name] = {
                "missing": sorted(set(expected) - set(listed)),
                "extra": sorted(set(listed) - set(expected)),
            }
    assert not wrong, f"run `python tests/import_closure.py` to fix dvc.yaml: {wrong}"


def test_no_stage_depends_on_user_commands_or_a_whole_folder() -> None:
    for name, spec in _stages().items():
        for dep in _dep_paths(spec):
            assert "/commands/" not in dep, f"{name} depends on a user command: {dep}"
            if dep.startswith("src/"):
                assert (ROOT / dep).is_file(), f"{name}: code dep {dep} is not a file"


def test_closure_follows_lazy_imports_and_package_inits() -> None:
    # ingest's registry imports the adapters; stages import `breast_density.stages` (its __init__ runs).
    files = {p.relative_to(ROOT).as_posix() for p in closure("breast_density.stages.ingest")}
    assert "src/breast_density/ingest/adapters.py" in files
    assert "src/breast_density/stages/__init__.py" in files
    assert "src/breast_density/io.py" in files
    assert not any("/cohort/" in f for f in files), "ingest must not run the synthetic generator"


def test_an_empty_package_init_is_no_dep_but_one_with_code_is(tmp_path) -> None:
    from import_closure import executes_nothing

    files = {p.relative_to(ROOT).as_posix() for p in closure("breast_density.stages.balance")}
    assert "src/breast_density/data/balance.py" in files
    assert "src/breast_density/data/__init__.py" not in files  # empty
    assert "src/breast_density/stages/__init__.py" in files  # holds stage_setup
    cases = [("", True), ('"""Docs."""\n', True), ("X = 1\n", False), ('"""Docs."""\nX = 1\n', False)]
    for text, empty in cases:
        (tmp_path / "m.py").write_text(text)
        assert executes_nothing(tmp_path / "m.py") is empty, text


def test_rewrite_restores_a_removed_dep() -> None:
    text = (ROOT / "dvc.yaml").read_text(encoding="utf-8")
    broken = text.replace("\n      - src/breast_density/io.py\n", "\n", 1)  # a whole line, any stage
    fixed, changed = rewrite_dvc_yaml(broken)
    assert changed and fixed == text

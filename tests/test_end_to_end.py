"""The DVC user experience, checked mechanically on a copy of the repository.

A cut-down demo (fewer exams and epochs, set through params.yaml exactly as a user would) runs every stage,
then: a second repro runs nothing; a finetune param reruns exactly finetune and evaluate; a text param reruns
from that text stage on; `dvc exp run -S` behaves the same; two probe learning rates queued with
`dvc exp run --queue` and run by `dvc queue start` rerun only the probes and evaluate and both show in
`dvc exp show`; `dvc metrics show/diff` fit a 200-column terminal; `dvc plots show` and `dvc plots diff` pages
render every plot in a browser with the network off; no PHI of the cohort's truth appears in any output; and
on a labels dataset `dvc repro` never runs the cohort.

Screenshots of the offline pages go to $BREAST_DENSITY_SCREENSHOTS when set (the README's come from there).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from ruamel.yaml import YAML

from offline_browser import embeds, rendered_dom, screenshot

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ALL_STAGES = {
    "cohort@synthetic",  # foreach over params cohort.generate
    "ingest",
    "normalize",
    "translate",
    "label",
    "harmonize",
    "balance",
    "split",
    "adapt",
    "embed@base",
    "embed@adapted",
    "zeroshot@base",
    "zeroshot@adapted",
    "probe@base",
    "probe@adapted",
    "finetune",
    "evaluate",
    "plots_template",
}
ARMS = {"zeroshot", "zeroshot_all", "probe", "finetune", "adapted_zeroshot", "adapted_probe"}
TERMINAL = 200  # columns the metrics tables must fit
# Copied into the scratch repo: sources only, never data, caches or environments.
_SKIP_TOP = {
    ".git",
    ".venv",
    "data",
    "models",
    "dvclive",
    "dvc_plots",
    "results.md",
    "dvc.lock",
    "metrics",
    "plots",
}
_SKIP_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache", "cache", "tmp"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == REPO
    return {n for n in names if n in _SKIP_ANYWHERE or (top and n in _SKIP_TOP)}


pytestmark = pytest.mark.slow


def _env(repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    # The copy's own sources win over the editable install of the original checkout.
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DVC_NO_ANALYTICS="1", PYTHONPATH=str(repo / "src")
    )
    return env


def _run(cwd: Path, *args: str) -> str:
    proc = subprocess.run(args, cwd=cwd, env=_env(cwd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc.stdout + proc.stderr


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w@-]+)'", output))


def _set_params(repo: Path, **updates: object) -> None:
    """Edit params.yaml like a user would (comments kept): _set_params(repo, **{"finetune.lr": 0.001})."""
    yaml = YAML()
    path = repo / "params.yaml"
    data = yaml.load(path)
    for dotted, value in updates.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    yaml.dump(data, path)


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    shutil.copytree(REPO, repo, ignore=_ignore)
    _set_params(
        repo,
        **{
            "cohort.exams": 64,
            "finetune.max_epochs": 2,
            "adapt.max_epochs": 2,
            "evaluate.bootstrap_resamples": 200,
        },
    )
    _run(repo, "git", "init", "-q")
    _run(repo, "git", "-c", "user.email=e2e@localhost", "-c", "user.name=e2e", "add", "-A")
    _run(
        repo, "git", "-c", "user.email=e2e@localhost", "-c", "user.name=e2e", "commit", "-qm", "scratch copy"
    )
    return repo


@pytest.fixture(scope="module")
def first_repro(demo_repo: Path) -> str:
    return _run(demo_repo, "dvc", "repro")


def _commit(repo: Path, message: str) -> None:
    _run(repo, "git", "-c", "user.email=e2e@localhost", "-c", "user.name=e2e", "add", "-A")
    _run(repo, "git", "-c", "user.email=e2e@localhost", "-c", "user.name=e2e", "commit", "-qm", message)


def test_every_stage_runs_and_writes_its_outputs(demo_repo: Path, first_repro: str) -> None:
    assert _ran(first_repro) == ALL_STAGES
    evaluate = json.loads((demo_repo / "metrics/evaluate.json").read_text())
    for model in ("zeroshot", "probe", "finetune", "adapted_zeroshot", "adapted_probe"):
        assert 0.0 <= evaluate[model]["accuracy"] <= 1.0
        assert 0.0 <= evaluate[model]["exam"]["accuracy"] <= 1.0
        assert evaluate[model]["ci"]["accuracy"]["low"] <= evaluate[model]["ci"]["accuracy"]["high"]
        assert (demo_repo / "plots/predictions" / f"{model}.csv").is_file()
        assert (demo_repo / "metrics/predictions" / f"{model}.csv").is_file()
    assert "p_holm" in evaluate["comparisons"]["probe_vs_finetune"]
    arms = {p.stem: json.loads(p.read_text()) for p in (demo_repo / "metrics/arms").glob("*.json")}
    assert set(arms) == ARMS
    assert arms["finetune"]["accuracy"] == evaluate["finetune"]["accuracy"]
    assert (demo_repo / "results.md").read_text().count("|") > 10
    # data and models go to the DVC cache, not to git
    ignored = _run(demo_repo, "git", "status", "--porcelain", "--ignored")
    assert "data/" in ignored and "models/" in ignored
    _commit(demo_repo, "demo run")


def test_second_repro_runs_nothing(demo_repo: Path, first_repro: str) -> None:
    out = _run(demo_repo, "dvc", "repro")
    assert _ran(out) == set()
    assert "Data and pipelines are up to date" in out


def test_no_phi_in_any_output(demo_repo: Path, first_repro: str) -> None:
    phi = json.loads((demo_repo / "data/raw/cohort-truth/phi.json").read_text())
    values = {str(v) for group in phi.values() for v in (group if isinstance(group, list) else [group])}
    values = {v for v in values if len(v) >= 5}  # short fragments would match by chance
    assert values, "the cohort truth lists no PHI values"
    roots = ["data/interim", "data/processed", "models", "metrics", "plots", "dvclive", "results.md"]
    leaks = []
    for root in roots:
        base = demo_repo / root
        files = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        for path in files:
            blob = path.read_bytes()
            leaks += [f"{path.relative_to(demo_repo)}: {v}" for v in values if v.encode() in blob]
    assert not leaks, "PHI found in pipeline outputs:\n" + "\n".join(leaks[:20])


def test_finetune_param_reruns_only_finetune_and_evaluate(demo_repo: Path, first_repro: str) -> None:
    _set_params(demo_repo, **{"finetune.lr": 0.0003})
    out = _run(demo_repo, "dvc", "repro")
    assert _ran(out) == {"finetune", "evaluate"}
    diff = _run(demo_repo, "dvc", "metrics", "diff", "--json")
    assert "finetune" in json.dumps(json.loads(diff)), "metrics diff shows no finetune change"
    table = _run(demo_repo, "dvc", "metrics", "diff", "--all")
    assert "metrics/arms/finetune.json" in table
    assert _widest(table) <= TERMINAL, f"dvc metrics diff is {_widest(table)} columns wide:\n{table}"
    _commit(demo_repo, "finetune lr 3e-4")


def test_prompt_template_reruns_only_zeroshot_and_evaluate(demo_repo: Path, first_repro: str) -> None:
    out = _run(demo_repo, "dvc", "exp", "run", "-S", "zeroshot.templates=['a mammogram showing {} tissue']")
    assert _ran(out) == {"zeroshot@base", "zeroshot@adapted", "evaluate"}


def test_adapt_param_reruns_only_the_adapted_arms(demo_repo: Path, first_repro: str) -> None:
    out = _run(demo_repo, "dvc", "exp", "run", "-S", "adapt.drop_density_sentence=true")
    assert _ran(out) == {"adapt", "embed@adapted", "zeroshot@adapted", "probe@adapted", "evaluate"}


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_metrics_show_fits_a_terminal_and_every_report_stays_readable(
    demo_repo: Path, first_repro: str
) -> None:
    table = _run(demo_repo, "dvc", "metrics", "show")
    assert _widest(table) <= TERMINAL, f"dvc metrics show is {_widest(table)} columns wide:\n{table}"
    for arm in ARMS:
        assert f"metrics/arms/{arm}.json" in table
    # The full report and the per-stage diagnostics are outputs that dvc reads by name.
    full = json.loads(_run(demo_repo, "dvc", "metrics", "show", "metrics/evaluate.json", "--json"))
    assert "p_holm" in json.dumps(full)
    stage = json.loads(_run(demo_repo, "dvc", "metrics", "show", "metrics/harmonize.json", "--json"))
    assert "harmonize.json" in json.dumps(stage)


def test_text_param_reruns_from_that_stage_on(demo_repo: Path, first_repro: str) -> None:
    _set_params(demo_repo, **{"normalize.min_similarity": 70.0})
    out = _run(demo_repo, "dvc", "repro")
    ran = _ran(out)
    assert "normalize" in ran
    assert not ran & {"cohort@synthetic", "ingest", "harmonize"}
    _commit(demo_repo, "normalize threshold 70")


def test_exp_run_set_param_reruns_the_same_way(demo_repo: Path, first_repro: str) -> None:
    out = _run(demo_repo, "dvc", "exp", "run", "-S", "finetune.weight_decay=0.01")
    assert _ran(out) == {"finetune", "evaluate"}
    shown = _run(demo_repo, "dvc", "exp", "show", "--json")
    assert "weight_decay" in shown


def test_plots_show_renders_confusion_matrices_and_curves(demo_repo: Path, first_repro: str) -> None:
    _run(demo_repo, "dvc", "plots", "show", "-o", "dvc_plots")
    html = (demo_repo / "dvc_plots/index.html").read_text()
    titles = [
        # titles name the configured models, not the study's
        "Zero-shot, demo-tiny-clip (test split)",
        "Linear probe on demo-tiny-clip embeddings (test split)",
        "Fine-tuned convnext_atto (test split)",
        "Linear probe loss",
        "ConvNeXt fine-tuning loss",
        "Validation accuracy per epoch",
    ]
    for title in titles:
        assert title in html, f"'{title}' not rendered by dvc plots show"
    assert "val/loss" in html  # the curves carry data points, not just a title
    assert (demo_repo / "dvc_plots/static/workspace_plots_confusion_finetune.png").is_file()


def _check_renders_offline(page: Path, shot: str) -> None:
    html = page.read_text()
    assert not re.search(r"<script[^>]+src=", html), "the page still loads a script from elsewhere"
    wanted, drawn = embeds(html, rendered_dom(page))
    assert len(wanted) >= 6, f"expected the 3 confusion matrices and 3 curve plots, found {wanted}"
    assert drawn == wanted, f"not rendered with the network off: {sorted(set(wanted) - set(drawn))}"
    target = os.environ.get("BREAST_DENSITY_SCREENSHOTS")
    png = Path(target) / shot if target else page.parent / shot
    screenshot(page, png)


def test_plots_show_and_diff_render_every_plot_offline(demo_repo: Path, first_repro: str) -> None:
    # .dvc/config plots.html_template points at the plots_template stage's page: plain commands use it.
    _run(demo_repo, "dvc", "plots", "show", "-o", "dvc_plots")
    _check_renders_offline(demo_repo / "dvc_plots/index.html", "plots-show.png")
    _run(demo_repo, "dvc", "plots", "diff", "HEAD", "-o", "dvc_plots_diff")
    _check_renders_offline(demo_repo / "dvc_plots_diff/index.html", "plots-diff.png")
    # Control: DVC's own page (vega from a CDN) draws nothing under the same offline browser.
    default = demo_repo / "dvc_plots_cdn"
    _run(demo_repo, "dvc", "plots", "show", "-o", str(default), "--html-template", str(_cdn_page(demo_repo)))
    wanted, drawn = embeds((default / "index.html").read_text(), rendered_dom(default / "index.html"))
    assert wanted and not drawn, "the browser reached the network: the offline check proves nothing"


def _stale(repo: Path) -> set[str]:
    """Stages `dvc status` reports as changed."""
    return set(json.loads(_run(repo, "dvc", "status", "--json") or "{}"))


def _append_comment(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")


def test_code_edits_mark_exactly_the_stages_that_run_the_file(demo_repo: Path, first_repro: str) -> None:
    from import_closure import stage_code_deps

    names = _run(demo_repo, "dvc", "stage", "list", "--name-only").split()
    src = demo_repo / "src/breast_density"
    try:
        _append_comment(src / "commands/predict.py")
        assert _stale(demo_repo) == set(), "a user command is in some stage's deps"
        _append_comment(src / "io.py")
        importers = {n for n in names if "src/breast_density/io.py" in stage_code_deps(n.split("@")[0])}
        assert importers and _stale(demo_repo) == importers
        _run(demo_repo, "git", "checkout", "--", "src")
        _append_comment(src / "cohort/phantom.py")
        assert _stale(demo_repo) == {"cohort@synthetic"}
    finally:
        _run(demo_repo, "git", "checkout", "--", "src")


def test_a_workers_param_reruns_only_its_stage(demo_repo: Path, first_repro: str) -> None:
    out = _run(demo_repo, "dvc", "exp", "run", "-S", "harmonize.workers=1")
    assert _ran(out) == {"harmonize"}


def _experiments(shown: list[dict]) -> dict[str, dict]:
    """name -> data (params, metrics) of every experiment in `dvc exp show --json` output."""
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                found[rev["name"] or exp["name"]] = rev["data"]
    return found


def _wait_for_queue(repo: Path, names: list[str], timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _run(repo, "dvc", "queue", "status")
        rows = [line.split() for line in status.splitlines() if any(n in line.split() for n in names)]
        if len(rows) == len(names) and not any({"Queued", "Running"} & set(row) for row in rows):
            assert all("Success" in row for row in rows), status
            return
        time.sleep(3)
    raise AssertionError(f"queued experiments unfinished after {timeout_s} s:\n{status}")


def test_queued_probe_sweep_runs_in_the_background(demo_repo: Path, first_repro: str) -> None:
    """`dvc exp run --queue` + `dvc queue start`: each queued run reruns only the probes and evaluate."""
    # queued runs start from the last commit (plus their -S changes): commit the current lock and params
    _run(demo_repo, "git", "add", "-A")
    git_user = ("-c", "user.email=e2e@localhost", "-c", "user.name=e2e")
    _run(demo_repo, "git", *git_user, "commit", "--allow-empty", "-qm", "before the queued sweep")
    names = ["probe-lr-a", "probe-lr-b"]
    for name, lr in zip(names, (0.003, 0.0003), strict=True):
        _run(demo_repo, "dvc", "exp", "run", "--queue", "-n", name, "-S", f"probe.lr={lr}")
    # workers inherit this environment (offline flags, PYTHONPATH), as CUDA_VISIBLE_DEVICES would be
    _run(demo_repo, "dvc", "queue", "start", "-j", "1")
    try:
        _wait_for_queue(demo_repo, names)
    finally:
        _run(demo_repo, "dvc", "queue", "stop")
    for name in names:
        log = _run(demo_repo, "dvc", "queue", "logs", name)
        assert _ran(log) == {"probe@base", "probe@adapted", "evaluate"}, log[-3000:]
    shown = _experiments(json.loads(_run(demo_repo, "dvc", "exp", "show", "--json")))
    lrs = {}
    for name in names:
        assert name in shown, f"{name} missing from dvc exp show: {sorted(shown)}"
        data = shown[name]
        lrs[name] = data["params"]["params.yaml"]["data"]["probe"]["lr"]
        for arm in ("probe", "adapted_probe"):
            accuracy = data["metrics"][f"metrics/arms/{arm}.json"]["data"]["accuracy"]
            assert 0.0 <= accuracy <= 1.0
    assert lrs == {"probe-lr-a": 0.003, "probe-lr-b": 0.0003}


def _cdn_page(repo: Path) -> Path:
    from dvc_render.html import PAGE_HTML

    path = repo / "cdn_page.html"
    path.write_text(PAGE_HTML)
    return path


def test_on_a_labels_dataset_repro_never_runs_the_cohort(demo_repo: Path, first_repro: str) -> None:
    """One's own data (the demo's images with a labels.csv): the cohort stage must not run, not even once."""
    own = demo_repo / "data/own"
    shutil.copytree(demo_repo / "data/raw/cohort/dicom", own / "dicom")  # flat; AccessionNumber = exam id
    truth = pd.read_csv(demo_repo / "data/raw/cohort-truth/exams.csv", dtype=str)
    truth[["exam_id", "patient_id", "density"]].to_csv(own / "labels.csv", index=False)
    shutil.rmtree(demo_repo / "data/raw/cohort")
    own_data = {"data.source": "labels", "data.root": "data/own", "cohort.generate": []}
    # Real data refuses the public demo key; a literal key works (with a warning that it lands in dvc.lock).
    _set_params(demo_repo, **own_data, **{"ingest.hash_key": "e2e-own-data-key-6d1f0c2a"})
    assert "cohort" not in _run(demo_repo, "dvc", "stage", "list")
    out = _run(demo_repo, "dvc", "repro")
    ran = _ran(out)
    assert not any(s.startswith("cohort") for s in ran), ran
    assert {"ingest", "evaluate"} <= ran
    assert not (demo_repo / "data/raw/cohort").exists(), "the synthetic cohort was generated again"
    ingest = json.loads((demo_repo / "metrics/ingest.json").read_text())
    assert ingest["source"] == "labels"

"""Data-parallel training: the per-process split of the seeded epoch order, and the finetune stage launched by
torchrun with two CPU processes (gloo) against the single-process run with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from breast_density import paths
from breast_density.models import distributed
from breast_density.models.convnext import load_bundle
from breast_density.models.training import EpochSampler
from breast_density.params import Params, ParamsError, load_params, parse_params
from breast_density.stages import adapt, finetune
from clip_fixtures import make_reports, make_split
from test_finetune import make_cohort

SRC = Path(__file__).resolve().parents[1] / "src"
WORKER = Path(__file__).resolve().parent / "ddp_worker.py"
GLOBAL_BATCH = 8


def _per_rank(size: int, batch: int, world: int) -> list[list[tuple[int, int]]]:
    order = EpochSampler(size, seed=5)
    return [list(distributed.ShardedSampler(order, batch, r, world)) for r in range(world)]


def test_ranks_split_every_global_batch_of_the_single_process_order() -> None:
    order = list(EpochSampler(22, seed=5))  # 2 full batches of 8, then 6 = a multiple of 2
    ranks = _per_rank(22, GLOBAL_BATCH, 2)
    assert len(ranks[0]) == len(ranks[1]) == 11
    local = GLOBAL_BATCH // 2
    # Loader batches of 4 per rank: global batch k is rank 0's k-th batch followed by rank 1's.
    for k, start in enumerate(range(0, 22, GLOBAL_BATCH)):
        size = min(GLOBAL_BATCH, 22 - start) // 2
        joined = ranks[0][k * local : k * local + size] + ranks[1][k * local : k * local + size]
        assert joined == order[start : start + 2 * size]


def test_a_short_last_batch_is_cut_to_a_multiple_of_the_process_count() -> None:
    order = list(EpochSampler(19, seed=5))  # last batch of 3: one item left out on 2 processes
    ranks = _per_rank(19, GLOBAL_BATCH, 2)
    assert len(ranks[0]) == len(ranks[1]) == 9
    assert sorted(ranks[0] + ranks[1]) == sorted(order[:18])
    assert not set(ranks[0]) & set(ranks[1])


def test_a_global_batch_that_does_not_divide_names_the_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distributed, "world_size", lambda: 3)
    with pytest.raises(ValueError, match=r"finetune\.batch_size = 8 .* 3 training processes"):
        distributed.local_batch_size(8, "finetune.batch_size")
    assert distributed.local_batch_size(9, "finetune.batch_size") == 3


@pytest.mark.parametrize("section", ["finetune", "adapt"])
def test_nproc_must_be_a_positive_count(section: str) -> None:
    assert getattr(Params(), section).nproc == 1
    with pytest.raises(ParamsError, match="nproc"):
        parse_params({section: {"nproc": 0}})


def test_a_single_process_has_no_process_group() -> None:
    assert distributed.world_size() == 1 and distributed.is_main()
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap(model, torch.device("cpu")) is model
    assert distributed.all_reduce_sum(1.5, 2) == [1.5, 2.0]
    assert distributed.from_main(lambda: "x") == "x"


def _project(root: Path, nproc: int) -> Path:
    """A folder laid out as the repository for the finetune stage: params.yaml, split and harmonize."""
    frame = make_cohort(root, {"train": 3, "val": 1, "test": 1})  # 12 train images: batches of 8 and 4
    frame["path"] = [f"data/interim/harmonize/{p}" for p in frame["path"]]
    harmonize = root / "data" / "interim" / "harmonize"
    harmonize.mkdir(parents=True)
    (root / "png").rename(harmonize / "png")
    (harmonize / "spec.json").write_text('{"version": 1}')
    split = root / "data" / "processed" / "split"
    split.mkdir(parents=True)
    frame.to_csv(split / "split.csv", index=False)
    params = Params().model_dump(mode="json")
    params["finetune"].update(
        arch="convnext_atto", img_size=32, batch_size=GLOBAL_BATCH, max_epochs=3, workers=0, nproc=nproc
    )
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _torchrun(root: Path, nproc: int, *target: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.run(
        [*command, *target], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _finetune(root: Path, nproc: int) -> str:
    """The stage as dvc.yaml runs it; returns its log."""
    done = _torchrun(root, nproc, "-m", "breast_density.stages.finetune")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def _curve(root: Path, name: str) -> list[float]:
    return pd.read_csv(root / "dvclive" / "finetune" / "plots" / "metrics" / f"{name}.tsv", sep="\t")[
        name.split("/")[-1]
    ].tolist()


def _finetune_here(root: Path) -> None:
    """The single-process reference, in this process (no torchrun start-up), on the same folder layout."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun process (OMP_NUM_THREADS=1): tiny tensors, shared cores
    try:
        _run_stage(root)
    finally:
        torch.set_num_threads(threads)


def _run_stage(root: Path) -> None:
    finetune.run(
        load_params(root / paths.PARAMS),
        root / paths.stage_dir("split") / "split.csv",
        root / paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
        root / paths.model_dir("finetune"),
        root / paths.stage_dir("finetune") / "predictions.csv",
        root / paths.live_dir("finetune"),
        root / paths.resume_dir("finetune"),
        root=root,
    )


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    single = _project(tmp_path_factory.mktemp("nproc1"), 1)
    double = _project(tmp_path_factory.mktemp("nproc2"), 2)
    _finetune_here(single)
    _finetune(double, 2)
    return single, double


def test_two_processes_train_and_write_one_bundle(one_and_two: tuple[Path, Path]) -> None:
    _, double = one_and_two
    loss = _curve(double, "train/loss")
    assert len(loss) == 3 and loss[-1] < loss[0]
    _, config = load_bundle(double / "models" / "finetune")
    assert config["training"]["nproc"] == 2 and config["training"]["epochs_run"] == 3
    assert len(pd.read_csv(double / "data" / "processed" / "finetune" / "predictions.csv")) == 4
    # rank 1 writes nothing: no second bundle, no stray checkpoint, no second dvclive folder
    assert {p.name for p in (double / "models").iterdir()} == {"finetune", "finetune-resume"}
    assert [p.name for p in (double / "models" / "finetune-resume").iterdir()] == ["STATUS"]
    assert [p.name for p in (double / "dvclive").iterdir()] == ["finetune"]


def test_two_processes_match_the_single_process_run(one_and_two: tuple[Path, Path]) -> None:
    # Same data order, same global batch, per-sample augmentation seeds, LayerNorm (no batch statistics):
    # the runs differ only in floating-point summation order (two half-batch means averaged by the
    # all-reduce instead of one mean): 2e-7 measured after 3 epochs. 1e-5 leaves room for AdamW to carry
    # that through a few more steps while still failing on any real difference (a wrong shard or a missing
    # all-reduce moves these values by 1e-2 or more).
    single, double = one_and_two
    for name in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        assert _curve(double, name) == pytest.approx(_curve(single, name), abs=1e-5), name
    p1 = pd.read_csv(single / "data" / "processed" / "finetune" / "predictions.csv")
    p2 = pd.read_csv(double / "data" / "processed" / "finetune" / "predictions.csv")
    probs = [c for c in p1.columns if c.startswith("p_")]
    assert p2[probs].to_numpy() == pytest.approx(p1[probs].to_numpy(), abs=1e-5)
    assert (p1["predicted"] == p2["predicted"]).all()


@pytest.mark.slow  # two more torchrun launches (~30 s each on two cores, mostly imports)
def test_a_killed_two_process_run_resumes_to_the_same_curves(
    one_and_two: tuple[Path, Path], tmp_path: Path
) -> None:
    _, double = one_and_two
    root = _project(tmp_path, 2)
    killed = _torchrun(root, 2, str(WORKER), "2")
    assert killed.returncode != 0 and "simulated kill after epoch 2" in killed.stderr
    state = torch.load(root / "models" / "finetune-resume" / "checkpoint.pt", weights_only=False)
    assert len(state["history"]) == 2
    assert "resuming from models/finetune-resume/checkpoint.pt after epoch 2" in _finetune(root, 2)
    summary = json.loads((root / "models" / "finetune" / "config.json").read_text())["training"]
    assert summary["epochs_run"] == 3
    # Same process count, deterministic CPU kernels: the resumed run continues bit for bit.
    for name in ("train/loss", "val/loss"):
        assert _curve(root, name) == _curve(double, name), name
    assert [p.name for p in (root / "models" / "finetune-resume").iterdir()] == ["STATUS"]


def _adapt_project(root: Path, nproc: int) -> Path:
    """The adapt stage's inputs in the repository layout: 16 train pairs (two global batches of 8), 4 val."""
    images = root / paths.stage_dir("harmonize")
    split_csv = make_split(images, per_class=6)
    (root / paths.stage_dir("split")).mkdir(parents=True)
    split_csv = split_csv.rename(root / paths.stage_dir("split") / "split.csv")
    (root / paths.stage_dir("translate")).mkdir(parents=True)
    make_reports(split_csv, root / paths.stage_dir("translate") / "reports.csv")
    params = Params().model_dump(mode="json")
    params["adapt"].update(batch_size=GLOBAL_BATCH, max_epochs=3, patience=3, lr=0.002, nproc=nproc)
    # A partly locked text tower (frozen parameters stay out of the all-reduce) and activation checkpointing
    # (the forward runs again inside backward): the paper profile's set-up, which must still match.
    params["adapt"].update(lock_text=True, text_unlocked_layers=1, grad_checkpointing=True)
    # A ViT image tower, as BiomedCLIP's: a BatchNorm tower normalises each process's slice of the batch with
    # that slice's statistics, so it matches a single process only approximately.
    params["embed"]["model"] = "demo-tiny-vit-clip"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def _adapt_curve(root: Path, name: str) -> list[float]:
    table = root / paths.live_dir("adapt") / "plots" / "metrics" / f"{name}.tsv"
    return pd.read_csv(table, sep="\t")[name.split("/")[-1]].tolist()


def test_two_process_adaptation_matches_the_single_process_run(tmp_path: Path) -> None:
    single, double = _adapt_project(tmp_path / "one", 1), _adapt_project(tmp_path / "two", 2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        adapt.run(
            load_params(single / paths.PARAMS),
            single / paths.stage_dir("split") / "split.csv",
            single / paths.stage_dir("translate") / "reports.csv",
            single / paths.model_dir("adapt"),
            single / paths.live_dir("adapt"),
            single / paths.resume_dir("adapt"),
        )
    finally:
        torch.set_num_threads(threads)
    done = _torchrun(double, 2, "-m", "breast_density.stages.adapt")
    assert done.returncode == 0, done.stderr[-3000:]
    # The gathered loss contrasts each image with all 8 reports of its global batch, as one process does;
    # a loss over each process's 4 pairs alone would be lower by about log(2) at the start.
    for name in ("train/loss", "val/loss", "val/zeroshot_accuracy"):
        assert _adapt_curve(double, name) == pytest.approx(_adapt_curve(single, name), abs=1e-5), name
    assert _adapt_curve(double, "train/loss")[-1] < _adapt_curve(double, "train/loss")[0]
    summary = json.loads((double / paths.model_dir("adapt") / "adapt.json").read_text())
    assert summary["n_train"] == 16 and summary["training"]["epochs_run"] == 3
    assert {p.name for p in (double / "models").iterdir()} == {"adapt", "adapt-resume"}

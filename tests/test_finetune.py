"""ConvNeXt training loop and the finetune stage on a tiny synthetic cohort (CPU, seconds)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from breast_density.data.datasets import HarmonizedImages
from breast_density.models.augment import eval_transform, train_transform
from breast_density.models.convnext import create_convnext, load_bundle
from breast_density.models.training import (
    EpochSampler,
    TrainSettings,
    evaluate,
    fit,
    load_checkpoint,
    make_loader,
)
from breast_density.params import AugmentParams, Params, parse_params
from breast_density.stages import finetune

CLASSES = ["A", "B", "C", "D"]
SIZE = 32
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny tensors: thread start-up costs more than it saves, and shared CI cores make it worse.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def make_cohort(root: Path, per_class: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """Tiny harmonised-looking PNGs whose bright-tissue fraction grows with the class index."""
    rng = np.random.default_rng(seed)
    rows = []
    (root / "png").mkdir(parents=True, exist_ok=True)
    for partition, count in per_class.items():
        for k, label in enumerate(CLASSES):
            for i in range(count):
                img = np.zeros((40, 32), np.uint8)
                yy, xx = np.mgrid[:40, :32]
                breast = (xx / 30) ** 2 + ((yy - 20) / 19) ** 2 < 1
                dense = breast & (rng.random((40, 32)) < 0.15 + 0.2 * k)
                img[breast] = 70 + rng.integers(0, 20)
                img[dense] = 220
                image_id = f"{partition}-{label}-{i}"
                path = Path("png") / f"{image_id}.png"
                cv2.imwrite(str(root / path), img)
                rows.append(
                    {
                        "image_id": image_id,
                        "exam_id": f"e-{image_id}",
                        "patient_id": f"p-{image_id}",
                        "laterality": "L",
                        "view": "CC",
                        "vendor": "v",
                        "path": str(path),
                        "label": label,
                        "partition": partition,
                    }
                )
    return pd.DataFrame(rows)


def datasets(root: Path, frame: pd.DataFrame) -> tuple[HarmonizedImages, HarmonizedImages]:
    frame = frame.assign(path=[str(root / p) for p in frame["path"]])
    train = frame[frame.partition == "train"].reset_index(drop=True)
    val = frame[frame.partition == "val"].reset_index(drop=True)
    train_tf = train_transform(AugmentParams(), SIZE, MEAN, STD)
    return (
        HarmonizedImages(train, train_tf, CLASSES),
        HarmonizedImages(val, eval_transform(SIZE, MEAN, STD), CLASSES),
    )


def settings(**overrides) -> TrainSettings:
    base = {
        "lr": 2e-3, "weight_decay": 0.05, "batch_size": 8, "max_epochs": 3, "patience": 5,
        "lr_schedule": "constant", "workers": 0, "seed": 7, "precision": "auto", "channels_last": "auto",
    }  # fmt: skip
    return TrainSettings(**{**base, **overrides})


def test_two_epochs_lower_the_training_loss(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 6, "val": 2})
    train_set, val_set = datasets(tmp_path, frame)
    torch.manual_seed(0)
    model = create_convnext("convnext_atto", len(CLASSES))
    plain_train = HarmonizedImages(
        frame[frame.partition == "train"].assign(path=lambda f: [str(tmp_path / p) for p in f.path]),
        eval_transform(SIZE, MEAN, STD),
        CLASSES,
    )
    loader = make_loader(plain_train, 32, 0, torch.device("cpu"))
    before, _ = evaluate(model, loader, torch.device("cpu"))
    result = fit(model, train_set, val_set, settings(max_epochs=2), device=torch.device("cpu"))
    after, _ = evaluate(model, loader, torch.device("cpu"))
    assert len(result.history) == 2
    assert after < before - 0.05


def test_early_stopping_triggers_on_a_plateau(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 2, "val": 1})
    train_set, val_set = datasets(tmp_path, frame)
    model = create_convnext("convnext_atto", len(CLASSES))
    # lr 0: the validation loss is exactly flat, so only patience can end the run.
    result = fit(model, train_set, val_set, settings(lr=0.0, max_epochs=20, patience=2))
    assert result.stopped_early
    assert len(result.history) == 3
    # epochs count from 1, as in the probe: the first epoch stays the best of a flat run
    assert result.best_epoch == 1 and [r["epoch"] for r in result.history] == [1, 2, 3]


class KilledError(Exception):
    pass


def _kill_after(epoch_to_kill: int):
    def hook(epoch: int) -> None:
        if epoch == epoch_to_kill:
            raise KilledError

    return hook


def test_resume_after_kill_gives_identical_weights_and_metrics(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 4, "val": 2})
    train_set, val_set = datasets(tmp_path, frame)
    cpu = torch.device("cpu")

    torch.manual_seed(1)
    reference = create_convnext("convnext_atto", len(CLASSES))
    straight = fit(reference, train_set, val_set, settings(), device=cpu, checkpoint_path=tmp_path / "a.pt")

    checkpoint = tmp_path / "b.pt"
    torch.manual_seed(1)
    killed = create_convnext("convnext_atto", len(CLASSES))
    with pytest.raises(KilledError):
        fit(killed, train_set, val_set, settings(), device=cpu, checkpoint_path=checkpoint,
            after_epoch=_kill_after(1))  # fmt: skip
    # A new process would build a fresh model: a different init proves the weights come from the checkpoint.
    torch.manual_seed(99)
    resumed_model = create_convnext("convnext_atto", len(CLASSES))
    # One worker process here (none above): the data must not depend on the loader set-up.
    resumed = fit(
        resumed_model, train_set, val_set, settings(workers=1), device=cpu, checkpoint_path=checkpoint
    )

    assert resumed.resumed_at_epoch == 1
    assert resumed.history == straight.history
    reference_state, resumed_state = reference.state_dict(), resumed_model.state_dict()
    assert reference_state.keys() == resumed_state.keys()
    for key, value in reference_state.items():
        assert torch.equal(value, resumed_state[key]), key


def test_checkpoint_of_another_configuration_is_not_resumed(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 2, "val": 1})
    train_set, val_set = datasets(tmp_path, frame)
    checkpoint = tmp_path / "c.pt"
    model = create_convnext("convnext_atto", len(CLASSES))
    fit(model, train_set, val_set, settings(max_epochs=1), checkpoint_path=checkpoint, run_key="old")
    assert load_checkpoint(checkpoint, "old") is not None
    assert load_checkpoint(checkpoint, "new") is None
    result = fit(model, train_set, val_set, settings(max_epochs=1), checkpoint_path=checkpoint, run_key="new")
    assert result.resumed_at_epoch == 0


def test_epoch_order_is_a_function_of_seed_and_epoch_only() -> None:
    sampler = EpochSampler(10, seed=3)
    sampler.set_epoch(4)
    first = list(sampler)
    sampler.set_epoch(0)
    list(sampler)
    sampler.set_epoch(4)
    assert list(sampler) == first
    assert sorted(i for i, _ in first) == list(range(10))
    sampler.set_epoch(5)
    assert list(sampler) != first


def _stage_params(**finetune) -> Params:
    defaults = Params().model_dump()
    defaults["finetune"].update(
        {
            "arch": "convnext_atto",
            "img_size": SIZE,
            "batch_size": 8,
            "max_epochs": 2,
            "workers": 0,
            **finetune,
        }
    )
    return parse_params(defaults)


def test_stage_writes_predictions_bundle_and_curves(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 4, "val": 2, "test": 2})
    split_csv = tmp_path / "split.csv"
    frame.to_csv(split_csv, index=False)
    harmonize_dir = tmp_path / "harmonize"
    harmonize_dir.mkdir()
    (harmonize_dir / "spec.json").write_text('{"version": 1}')  # copied into the bundle as it is
    out = {
        "model_dir": tmp_path / "models" / "finetune",
        "predictions_csv": tmp_path / "processed" / "predictions.csv",
        "live_dir": tmp_path / "dvclive",
        "resume_dir": tmp_path / "models" / "finetune-resume",
    }
    summary = finetune.run(_stage_params(), split_csv, harmonize_dir / "spec.json", root=tmp_path, **out)

    predictions = pd.read_csv(out["predictions_csv"], dtype={"image_id": str})
    assert list(predictions.columns) == [
        "image_id", "exam_id", "patient_id", "partition", "actual", "predicted", "p_A", "p_B", "p_C", "p_D",
    ]  # fmt: skip
    assert len(predictions) == 8 and set(predictions.partition) == {"test"}
    assert set(predictions.predicted) <= set(CLASSES)
    assert np.allclose(predictions[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1, atol=1e-4)
    _, config = load_bundle(out["model_dir"])
    assert config["class_names"] == CLASSES and config["img_size"] == SIZE
    assert (out["model_dir"] / config["harmonize_spec"]).read_text() == '{"version": 1}'
    assert summary["epochs"] == 2
    loss_curve = out["live_dir"] / "plots" / "metrics" / "train" / "loss.tsv"
    assert len(loss_curve.read_text().splitlines()) == 3  # header + 2 epochs
    assert (out["live_dir"] / "plots" / "metrics" / "val" / "accuracy.tsv").is_file()
    assert [f.name for f in out["resume_dir"].iterdir()] == ["STATUS"]


def test_stage_resumes_a_killed_run_and_retires_the_checkpoint(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 2, "val": 1, "test": 1})
    frame.to_csv(tmp_path / "split.csv", index=False)
    (tmp_path / "spec.json").write_text('{"version": 1}')
    resume_dir = tmp_path / "resume"
    args = (
        _stage_params(),
        tmp_path / "split.csv",
        tmp_path / "spec.json",
        tmp_path / "m",
        tmp_path / "p.csv",
        None,
        resume_dir,
    )
    with pytest.raises(KilledError):
        finetune.run(*args, root=tmp_path, after_epoch=_kill_after(1))
    assert (resume_dir / finetune.CHECKPOINT_FILE).is_file()
    summary = finetune.run(*args, root=tmp_path)
    assert summary["resumed_at_epoch"] == 1 and summary["epochs"] == 2
    assert not (resume_dir / finetune.CHECKPOINT_FILE).exists()
    # A changed setting starts afresh even when a checkpoint is present.
    with pytest.raises(KilledError):
        finetune.run(*args, root=tmp_path, after_epoch=_kill_after(1))
    changed = (_stage_params(lr=5e-4), *args[1:])
    assert finetune.run(*changed, root=tmp_path)["resumed_at_epoch"] == 0


def test_stage_rejects_labels_outside_the_configured_classes(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 1, "val": 1, "test": 1})
    frame.loc[0, "label"] = "E"
    frame.to_csv(tmp_path / "split.csv", index=False)
    with pytest.raises(ValueError, match="labels \\['E'\\]"):
        finetune.run(
            _stage_params(), tmp_path / "split.csv", tmp_path / "spec.json", tmp_path / "m",
            tmp_path / "p.csv", None, tmp_path / "r", root=tmp_path,
        )  # fmt: skip


@pytest.mark.gpu
def test_cuda_bf16_channels_last_epoch_trains(tmp_path: Path) -> None:
    frame = make_cohort(tmp_path, {"train": 4, "val": 2})
    train_set, val_set = datasets(tmp_path, frame)
    model = create_convnext("convnext_atto", len(CLASSES))
    result = fit(model, train_set, val_set, settings(max_epochs=2, workers=1), device=torch.device("cuda"))
    assert len(result.history) == 2
    assert all(np.isfinite(r["train/loss"]) and np.isfinite(r["val/loss"]) for r in result.history)
    assert next(model.parameters()).is_cuda

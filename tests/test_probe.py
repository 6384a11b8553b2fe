import json

import numpy as np
import pandas as pd
import pytest
import torch

from breast_density.models.probe import ProbeConfig, load_probe, predict_proba, save_probe, train_probe
from breast_density.models.variants import skipped_reason, write_skipped
from breast_density.params import parse_params
from breast_density.stages import embed, probe, zeroshot
from clip_fixtures import CLASSES, make_split


def probe_config(**overrides) -> ProbeConfig:
    """The params.yaml probe settings (the only place they are defined) with test overrides."""
    return ProbeConfig(**{**parse_params({}).probe.model_dump(), "seed": 42, **overrides})


def _clusters(n, rng, n_classes=4, dim=12, flip=0.0):
    centres = np.eye(dim)[:n_classes] * 3.0
    y = rng.integers(0, n_classes, n)
    x = centres[y] + rng.normal(scale=0.5, size=(n, dim))
    if flip:  # label noise makes the validation loss turn up once the probe grows over-confident
        noisy = rng.random(n) < flip
        y = np.where(noisy, (y + 1) % n_classes, y)
    return x.astype(np.float32), y


def test_probe_learns_a_separable_set_and_stops_early_on_best_val_weights():
    rng = np.random.default_rng(0)
    x_train, y_train = _clusters(200, rng)
    x_val, y_val = _clusters(80, rng, flip=0.3)
    x_test, y_test = _clusters(200, rng)
    settings = probe_config(lr=0.05, weight_decay=0.0, batch_size=64, max_epochs=400, patience=5, seed=1)
    result = train_probe(x_train, y_train, x_val, y_val, 4, settings)
    accuracy = (predict_proba(result.model, x_test).argmax(1) == y_test).mean()
    assert accuracy >= 0.95
    assert result.stopped_early and result.epochs_run == result.best_epoch + settings.patience
    assert [row["epoch"] for row in result.history] == list(range(1, result.epochs_run + 1))
    val_losses = [row["val/loss"] for row in result.history]
    assert result.best_val_loss == pytest.approx(min(val_losses))
    restored = torch.nn.functional.cross_entropy(
        result.model(torch.as_tensor(x_val)), torch.as_tensor(y_val)
    ).item()
    assert restored == pytest.approx(min(val_losses), rel=1e-5)  # the best epoch's weights, not the last


def test_probe_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    x, y = _clusters(120, rng)
    xv, yv = _clusters(40, rng)
    runs = [train_probe(x, y, xv, yv, 4, probe_config(max_epochs=15, seed=s)) for s in (7, 7, 8)]
    assert torch.equal(runs[0].model.weight, runs[1].model.weight)
    assert runs[0].history == runs[1].history
    assert not torch.equal(runs[0].model.weight, runs[2].model.weight)


def test_probe_needs_validation_rows():
    rng = np.random.default_rng(2)
    x, y = _clusters(20, rng)
    with pytest.raises(ValueError, match="validation"):
        train_probe(x, y, x[:0], y[:0], 4, probe_config())


def test_saved_probe_round_trips(tmp_path):
    rng = np.random.default_rng(3)
    x, y = _clusters(40, rng)
    result = train_probe(x, y, x, y, 4, probe_config(max_epochs=3))
    save_probe(tmp_path, result.model, {"classes": CLASSES})
    model, config = load_probe(tmp_path)
    assert config["classes"] == CLASSES
    np.testing.assert_array_equal(predict_proba(model, x), predict_proba(result.model, x))


def test_tiny_model_runs_embed_zeroshot_and_probe_end_to_end(tmp_path):
    split_csv = make_split(tmp_path / "data", per_class=6)
    params = parse_params(
        {"zeroshot": {"templates": ["a mammogram showing {}"]}, "probe": {"max_epochs": 30, "patience": 5}}
    )
    embed_dir = tmp_path / "embed"
    meta = embed.run(params, split_csv, embed_dir)
    split = pd.read_csv(split_csv, dtype=str)
    images = np.load(embed_dir / "image_embeddings.npy")
    assert images.shape == (24, 64)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert pd.read_csv(embed_dir / "index.csv", dtype=str)["image_id"].tolist() == split["image_id"].tolist()
    assert meta["untrained"] and "meaningless" in meta["note"]
    # the prompts belong to the zeroshot stage: nothing of them in embed's output
    assert sorted(p.name for p in embed_dir.iterdir()) == ["image_embeddings.npy", "index.csv", "meta.json"]
    assert "prompt" not in (embed_dir / "meta.json").read_text()

    again = tmp_path / "embed-again"
    embed.run(params, split_csv, again)
    for name in ("image_embeddings.npy", "index.csv", "meta.json"):
        # seeded demo weights, no timings: a rerun on the same inputs gives the same bytes (DVC hashes)
        assert (again / name).read_bytes() == (embed_dir / name).read_bytes(), name

    zs = zeroshot.run(params, embed_dir, split_csv, tmp_path / "zeroshot", tmp_path / "models" / "zeroshot")
    written = pd.read_csv(tmp_path / "zeroshot" / "predictions.csv", dtype=str)
    assert len(zs) == len(written) == 24 and set(written["partition"]) == {"train", "val", "test"}
    assert [f"p_{c}" for c in CLASSES] == [c for c in written.columns if c.startswith("p_")]
    assert written["actual"].tolist() == split["label"].tolist()
    bundle = json.loads((tmp_path / "models" / "zeroshot" / "config.json").read_text())
    assert [len(p) for p in bundle["prompts"]] == [2] * 4 and bundle["classes"] == CLASSES

    # A template edit changes zero-shot, never the image embeddings the probe reads.
    other = parse_params({"zeroshot": {"templates": ["breast tissue that is {}"]}})
    zs2 = zeroshot.run(other, embed_dir, split_csv, tmp_path / "zeroshot2")
    assert not np.allclose(zs2[[f"p_{c}" for c in CLASSES]], zs[[f"p_{c}" for c in CLASSES]])

    (tmp_path / "spec.json").write_text('{"version": 1}')
    preds = probe.run(
        params, embed_dir, split_csv, tmp_path / "probe", tmp_path / "models" / "probe", tmp_path / "live",
        tmp_path / "spec.json",
    )  # fmt: skip
    assert set(preds["partition"]) == {"test"} and len(preds) == 4
    probs = preds[[f"p_{c}" for c in CLASSES]].to_numpy(float)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    model, config = load_probe(tmp_path / "models" / "probe")
    assert config["classes"] == CLASSES and config["untrained_embeddings"] and model.in_features == 64
    for curve in ("train/loss", "val/loss", "train/accuracy", "val/accuracy"):
        tsv = pd.read_csv(tmp_path / "live" / "plots" / "metrics" / f"{curve}.tsv", sep="\t")
        assert len(tsv) == config["epochs_run"] and curve.split("/")[1] in tsv.columns


def test_skipped_adapted_variant_passes_through_embed_zeroshot_and_probe(tmp_path):
    split_csv = make_split(tmp_path / "data", per_class=3)
    params = parse_params({})
    adapted = write_skipped(tmp_path / "adapt", "no report text")
    embed_dir = tmp_path / "embed"
    assert embed.run(params, split_csv, embed_dir, variant="adapted", adapted_dir=adapted)["skipped"]
    assert zeroshot.run(params, embed_dir, split_csv, tmp_path / "zs", variant="adapted") is None
    outs = (tmp_path / "probe", tmp_path / "m", tmp_path / "live")
    assert probe.run(params, embed_dir, split_csv, *outs, tmp_path / "spec.json", variant="adapted") is None
    for folder in (embed_dir, tmp_path / "zs", *outs):
        assert skipped_reason(folder) == "no report text"


def test_embed_reports_a_missing_image_by_path(tmp_path):
    split_csv = make_split(tmp_path / "data", per_class=1)
    frame = pd.read_csv(split_csv)
    frame.loc[0, "path"] = str(tmp_path / "gone.png")
    frame.to_csv(split_csv, index=False)
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        embed.run(parse_params({}), split_csv, tmp_path / "embed")
    assert not (tmp_path / "embed" / "meta.json").exists()

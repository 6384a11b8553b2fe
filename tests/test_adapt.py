"""Stage adapt: train-partition pairs only, learning, resume, an open_clip-loadable bundle, skipping."""

from __future__ import annotations

import open_clip
import pandas as pd
import pytest
import torch

from breast_density.models import adapt as adapt_module
from breast_density.models.adapt_text import findings_text
from breast_density.models.clip import load_clip
from breast_density.models.variants import skipped_reason
from breast_density.params import parse_params
from breast_density.stages import adapt
from clip_fixtures import make_reports, make_split

TINY = {"adapt": {"batch_size": 8, "max_epochs": 3, "patience": 3, "lr": 0.002}}


class KilledError(Exception):
    pass


def _inputs(tmp_path, per_class=6):
    split_csv = make_split(tmp_path / "data", per_class=per_class)
    reports_csv = make_reports(split_csv, tmp_path / "reports.csv")
    return split_csv, reports_csv


def _run(tmp_path, params, split_csv, reports_csv, name="m", **kwargs):
    folders = (tmp_path / name, tmp_path / f"{name}-live", tmp_path / f"{name}-resume")
    return adapt.run(params, split_csv, reports_csv, *folders, **kwargs)


def test_findings_text_keeps_placeholders_and_can_drop_the_density_sentence():
    report = "Patient: [NOMBRE].\nFINDINGS: Extremely dense breasts. Nodule near [NHC].\nCONCLUSION: benign."
    assert findings_text(report, drop_density_sentence=False) == "Extremely dense breasts. Nodule near [NHC]."
    assert findings_text(report, drop_density_sentence=True) == "Nodule near [NHC]."


def test_no_test_partition_report_or_image_reaches_adaptation(tmp_path, monkeypatch):
    split_csv, reports_csv = _inputs(tmp_path)
    split = pd.read_csv(split_csv, dtype=str)
    test = split[split["partition"] == "test"]
    reports = pd.read_csv(reports_csv, dtype=str, keep_default_na=False)
    # test exams get a marker report and lose their images: reading either would show up below
    only_test = set(test["exam_id"]) - set(split.loc[split["partition"] != "test", "exam_id"])
    reports.loc[reports["exam_id"].isin(only_test), "text_en"] = "FINDINGS: LEAKED test report."
    reports.to_csv(reports_csv, index=False)
    for path in test["path"]:
        (tmp_path / "data" / "png" / path.rsplit("/", 1)[-1]).unlink()
    seen: dict[str, pd.DataFrame] = {}
    real = adapt_module.ImageTextPairs

    def spy(frame, *args, **kwargs):
        seen[frame["partition"].iloc[0]] = frame
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(adapt_module, "ImageTextPairs", spy)
    summary = _run(tmp_path, parse_params({**TINY, "adapt": {**TINY["adapt"], "max_epochs": 1}}), split_csv,
                   reports_csv)  # fmt: skip
    assert set(seen) == {"train", "val"}
    used = pd.concat(seen.values())
    assert not set(used["image_id"]) & set(test["image_id"])
    assert not used["text"].str.contains("LEAKED").any()
    assert summary["n_train"] == (split["partition"] == "train").sum()


def test_adaptation_learns_and_writes_an_open_clip_folder(tmp_path):
    split_csv, reports_csv = _inputs(tmp_path)
    params = parse_params({"adapt": {**TINY["adapt"], "max_epochs": 4, "patience": 4}})
    summary = _run(tmp_path, params, split_csv, reports_csv)
    history = pd.read_csv(tmp_path / "m-live" / "plots" / "metrics" / "train" / "loss.tsv", sep="\t")
    assert len(history) == summary["training"]["epochs_run"] == 4
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert 1 <= summary["training"]["best_epoch"] <= 4
    folder = tmp_path / "m"
    ours = load_clip(str(folder))
    assert not ours.untrained and ours.image_size == (64, 64)
    # open_clip alone loads the bundle: same weights, same embeddings
    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval().encode_image(image), ours.model.encode_image(image))


# 0.0: the live weights are validated and kept; 0.5: the checkpoint must carry the weight average too.
@pytest.mark.parametrize("ema_decay", [0.0, 0.5])
def test_killed_adaptation_resumes_to_the_same_weights(tmp_path, ema_decay):
    split_csv, reports_csv = _inputs(tmp_path)
    params = parse_params({"adapt": {**TINY["adapt"], "ema_decay": ema_decay}})
    _run(tmp_path, params, split_csv, reports_csv, name="straight")

    def kill(epoch: int) -> None:
        if epoch == 2:
            raise KilledError

    with pytest.raises(KilledError):
        _run(tmp_path, params, split_csv, reports_csv, name="killed", after_epoch=kill)
    torch.manual_seed(123)  # a fresh process: the weights must come from the checkpoint
    summary = _run(tmp_path, params, split_csv, reports_csv, name="killed")
    assert summary["resumed_at_epoch"] == 2
    a = load_clip(str(tmp_path / "straight")).model.state_dict()
    b = load_clip(str(tmp_path / "killed")).model.state_dict()
    for key, value in a.items():
        assert torch.equal(value, b[key]), key
    assert [p.name for p in (tmp_path / "killed-resume").iterdir()] == ["STATUS"]


def test_source_without_report_text_skips_adaptation(tmp_path):
    split_csv, reports_csv = _inputs(tmp_path, per_class=3)
    pd.read_csv(reports_csv).assign(text_en="").to_csv(reports_csv, index=False)
    summary = _run(tmp_path, parse_params({"data": {"source": "labels"}}), split_csv, reports_csv)
    assert "no report text" in summary["skipped"]
    assert "no report text" in skipped_reason(tmp_path / "m")


def test_weight_average_moves_a_fraction_of_the_way_and_copies_buffers():
    live, average = torch.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with torch.no_grad():
        live.weight.fill_(3.0)
        live.running_mean.fill_(5.0)
    adapt_module.update_average(average, live, decay=0.9)  # average starts at weight 1
    torch.testing.assert_close(average.weight, torch.full((2,), 1.2))
    torch.testing.assert_close(average.running_mean, torch.full((2,), 5.0))


def test_adapt_seed_reorders_training_but_keeps_the_start_weights_and_split(tmp_path, monkeypatch):
    assert adapt.adapt_settings(parse_params({"base": {"seed": 5}})).seed == 5  # null: the base seed
    assert adapt.adapt_settings(parse_params({"base": {"seed": 5}, "adapt": {"seed": 9}})).seed == 9
    split_csv, reports_csv = _inputs(tmp_path)
    starts, orders = {}, {}
    real_adapt, real_sampler = adapt.adapt_clip, adapt_module.EpochSampler

    def record_start(bundle, train, *args, **kwargs):
        starts[seed] = [p.detach().clone() for p in bundle.model.parameters()]
        return real_adapt(bundle, train, *args, **kwargs)

    def record_order(size, order_seed):
        sampler = real_sampler(size, order_seed)
        sampler.set_epoch(1)
        orders[seed] = list(sampler)
        return sampler

    monkeypatch.setattr(adapt, "adapt_clip", record_start)
    monkeypatch.setattr(adapt_module, "EpochSampler", record_order)
    for seed in (None, 9):
        params = parse_params({"adapt": {**TINY["adapt"], "max_epochs": 1, "seed": seed}})
        _run(tmp_path, params, split_csv, reports_csv, name=f"s{seed}")
    assert orders[None] != orders[9]
    for before, after in zip(starts[None], starts[9], strict=True):
        torch.testing.assert_close(before, after)

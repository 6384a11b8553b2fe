"""params cohort.generate (the list dvc.yaml's cohort stage iterates over) and data.source."""

from __future__ import annotations

import pytest
import yaml

from breast_density.params import parse_params
from breast_density.stages import cohort
from import_closure import ROOT


def test_demo_generates_the_cohort_and_own_data_can_have_no_cohort_stage() -> None:
    assert parse_params({}).cohort.generate == ["synthetic"]
    own = parse_params({"data": {"source": "labels", "root": "x"}, "cohort": {"generate": []}})
    assert own.cohort.generate == []
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["cohort"]
    assert stage["foreach"] == "${cohort.generate}"
    assert "data.source" in stage["do"]["params"]


def test_cohort_left_on_for_own_data_stops_at_once_naming_the_key(tmp_path) -> None:
    params = parse_params({"data": {"source": "labels", "root": "x"}})
    with pytest.raises(ValueError, match=r"data.source is labels.*cohort.generate: \[\]"):
        cohort.run(params, tmp_path / "c", tmp_path / "t", tmp_path / "m.json", tmp_path / "p.png")
    assert not any(tmp_path.iterdir()), "nothing may be generated"

"""params cohort.generate (the list dvc.yaml's cohort stage iterates over) must agree with data.source."""

from __future__ import annotations

import pytest
import yaml

from breast_density.params import ParamsError, parse_params
from import_closure import ROOT


def test_demo_generates_the_cohort_and_own_data_has_no_cohort_stage() -> None:
    assert parse_params({}).cohort.generate == ["synthetic"]
    own = parse_params({"data": {"source": "labels", "root": "x"}, "cohort": {"generate": []}})
    assert own.cohort.generate == []
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["cohort"]
    assert stage["foreach"] == "${cohort.generate}"


def test_own_data_with_the_cohort_still_listed_names_the_key_to_change() -> None:
    with pytest.raises(ParamsError) as err:
        parse_params({"data": {"source": "labels", "root": "x"}}, "params.yaml")
    message = str(err.value)
    assert message.startswith("params.yaml: data.source is labels")
    assert "cohort.generate: []" in message and "got" not in message  # one line, no dump of the file


def test_synthetic_source_without_the_cohort_is_refused() -> None:
    with pytest.raises(ParamsError, match=r"cohort.generate: \[synthetic\]"):
        parse_params({"cohort": {"generate": []}})

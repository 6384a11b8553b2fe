"""One offline rule for every model loader: either offline variable forbids the hub."""

from __future__ import annotations

import pytest

from breast_density.hub import hub_offline


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_either_offline_variable_forbids_the_hub(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not hub_offline()
    monkeypatch.setenv(variable, "1")
    assert hub_offline()
    monkeypatch.setenv(variable, "0")
    assert not hub_offline()

"""benchmarks/gpu_figures.sh runs every figure end to end (tiny models and sizes on CPU, ~1 minute)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_figures_script_writes_every_figure_on_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        ["bash", str(REPO / "benchmarks/gpu_figures.sh"), str(tmp_path), "--tiny"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    names = {"finetune_paper_224", "finetune_paper_224_fp32", "finetune_hires", "embed_biomedclip"}
    assert {p.stem for p in tmp_path.glob("*.json")} == names | {"gpus"}
    for name in names:
        figures = json.loads((tmp_path / f"{name}.json").read_text())
        assert figures["bare_images_per_s"] > 0 and figures["stage_images_per_s"] > 0, name
        assert figures["ratio_stage_bare"] > 0, name
    hires = json.loads((tmp_path / "finetune_hires.json").read_text())
    assert hires["img_size"] == [80, 64] and hires["geometry"] == "keep_aspect"
    assert (hires["precision"], hires["channels_last"], hires["grad_checkpointing"]) == ("bf16", True, True)

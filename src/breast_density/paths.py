"""Every path the pipeline uses, relative to the repository root (where dvc runs)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
RAW = DATA / "raw"
COHORT = RAW / "cohort"  # the embedded demo cohort, shaped like a hospital export
# ground truth of the demo cohort; after cohort only harmonize reads it (true masks, to score its own)
COHORT_TRUTH = RAW / "cohort-truth"
INTERIM = DATA / "interim"
PROCESSED = DATA / "processed"
MODELS = Path("models")
METRICS = Path("metrics")
PLOTS = Path("plots")
PARAMS = Path("params.yaml")
PROFILES = Path("profiles")
RESULTS = Path("results.md")  # markdown results table written by evaluate
DEV_SET = Path("tests") / "data" / "density_dev_es.tsv"  # hand-written report sentences (audit-text)
HARMONIZE_SPEC_FILE = "spec.json"  # the harmonisation recipe, in the harmonize stage's folder
BUNDLE_SPEC_FILE = "harmonize_spec.json"  # its copy inside every model bundle


def stage_dir(stage: str) -> Path:
    """Folder a stage writes its data into (interim for cleaning stages, processed for the rest)."""
    interim = {"ingest", "normalize", "translate", "label", "harmonize"}
    return (INTERIM if stage in interim else PROCESSED) / stage


def metrics_file(stage: str) -> Path:
    return METRICS / f"{stage}.json"


def model_dir(stage: str) -> Path:
    return MODELS / stage


def live_dir(stage: str) -> Path:
    """dvclive folder of a training stage (per-epoch curves referenced by dvc.yaml's plots)."""
    return Path("dvclive") / stage


def resume_dir(stage: str) -> Path:
    """Epoch checkpoints of a training stage: a `persist: true` DVC out, so a killed run can resume."""
    return MODELS / f"{stage}-resume"

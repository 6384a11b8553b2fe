"""The one reader of params.yaml.

Every section is a pydantic model with ``extra="forbid"`` and strict types, so an unknown key or a
value of the wrong type fails at load time with an error naming the dotted key and the file.
Defaults live here *and* are written out in params.yaml, which is what DVC tracks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ParamsError(ValueError):
    """params.yaml is missing, malformed, has an unknown key or a value of the wrong type."""


class _Section(BaseModel):
    # strict: "3" is not silently an int, 1 is not silently a float-looking string.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class BaseParams(_Section):
    seed: int = 42


class DensityClass(_Section):
    """One target class: short name (used in CSVs and plots) and its wording."""

    name: str
    description: str  # English wording, used for zero-shot prompts and plot labels
    prompt: str  # the study's single zero-shot prompt for this class


def _default_classes() -> list[DensityClass]:
    return [
        DensityClass(
            name="A",
            description="almost entirely fatty",
            prompt="a mammogram of an almost entirely fatty breast (BI-RADS density A)",
        ),
        DensityClass(
            name="B",
            description="scattered areas of fibroglandular density",
            prompt="a mammogram with scattered areas of fibroglandular density (BI-RADS density B)",
        ),
        DensityClass(
            name="C",
            description="heterogeneously dense",
            prompt="a mammogram of a heterogeneously dense breast (BI-RADS density C)",
        ),
        DensityClass(
            name="D",
            description="extremely dense",
            prompt="a mammogram of an extremely dense breast (BI-RADS density D)",
        ),
    ]


class DataParams(_Section):
    """Where the pipeline's input comes from."""

    source: Literal["synthetic", "reports", "labels", "vindr", "cbis_ddsm", "rsna", "inbreast"] = "synthetic"
    root: str = "data/raw/cohort"  # folder of the chosen source; a DVC dependency of ingest
    # labels layout / public adapters: raw label value -> class name (e.g. {"1": "A", "DENSITY A": "A"}).
    # Empty means the identity on class names.
    label_map: dict[str, str] = Field(default_factory=dict)
    label_column: str = "density"  # column of labels.csv holding the raw label (labels layout)


class CohortParams(_Section):
    """The embedded synthetic cohort (demo data)."""

    # dvc.yaml's cohort stage is a `foreach` over this list: [] (any data.source but synthetic) leaves DVC no
    # cohort stage to run, so `dvc repro` on one's own data never generates the demo cohort; the stage itself
    # refuses to run for another source and names this key.
    generate: list[Literal["synthetic"]] = Field(default_factory=lambda: ["synthetic"])

    exams: int = 400
    scale: float = 0.125  # 1.0 = true vendor resolution (benchmarks), small for the demo
    text_noise: float = 0.15  # probability that a word of a report is corrupted
    no_statement_rate: float = 0.17  # reports with no usable density statement
    reader_noise: float = 0.0  # fraction of exams relabelled to an adjacent class
    repeat_patient_rate: float = 0.2  # fraction of exams that belong to a patient seen before
    class_prior: list[float] = Field(default_factory=lambda: [0.12, 0.21, 0.46, 0.21])
    workers: int = 2  # processes rendering images (output does not depend on it)

    @model_validator(mode="after")
    def _check_cohort(self) -> CohortParams:
        rates = ("text_noise", "no_statement_rate", "reader_noise", "repeat_patient_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"cohort.{name} must be within [0, 1]")
        prior = self.class_prior
        # The synthetic cohort always renders the four BI-RADS densities; data.label_map adapts other schemes.
        if len(prior) != 4 or min(prior) < 0 or abs(sum(prior) - 1) > 1e-6:
            raise ValueError(f"cohort.class_prior must be 4 weights >= 0 (A..D) summing to 1, got {prior}")
        if self.exams < 1 or self.scale <= 0 or self.workers < 1:
            raise ValueError("cohort.exams and cohort.workers must be >= 1 and cohort.scale > 0")
        return self


class IngestParams(_Section):
    keep_for_processing: bool = False  # keep 'FOR PROCESSING' (raw detector) images
    workers: int = 2
    # Pseudonym key. $BREAST_DENSITY_HASH_KEY wins, then hash_key_file, then hash_key. The public demo key
    # is refused on real data; a key written here lands in dvc.lock (a warning says so).
    hash_key: str = "demo-key-change-me"
    hash_key_file: str | None = None  # file outside git holding the key
    # fingerprint of a key from the environment or the file (the stage prints it): DVC tracks it, so a new
    # key reruns ingest; a mismatch stops the stage
    key_fingerprint: str = ""
    # PS3.15 Annex E options of the DICOM copies
    retain_device_identity: bool = False  # keep device serial number, station name, detector id
    clean_descriptors: bool = False  # keep study/series/protocol descriptions after scrubbing
    # Write each accepted image as a de-identified copy (technical header only, pixel data byte for byte)
    # so no path or header downstream carries PHI; False points images.csv at the raw files instead.
    deidentified_copies: bool = True


class NormalizeParams(_Section):
    max_edit_distance: int = 2
    min_similarity: float = 80.0  # rapidfuzz score (0-100) needed to accept a correction


class TranslateParams(_Section):
    backend: Literal["lexicon", "marian"] = "lexicon"
    marian_model: str = "Helsinki-NLP/opus-mt-es-en"  # hub name or local directory
    batch_size: int = 16
    max_length: int = 512


class LabelParams(_Section):
    # English and Spanish extractors name different letters or only one names a letter (see text/labeling.py)
    on_disagreement: Literal["exclude", "either", "english", "spanish"] = "either"
    sides: Literal["densest", "exclude"] = "densest"  # left and right differ: the denser side, or exclude
    percent_edition: Literal[4, 5] = 4  # % of fibroglandular tissue: 4th-edition quartiles | 5th: no class


# Harmonised images are stored whole and read whole by every model stage: above 2048 px a 16-bit image
# (8 MB per view) only costs memory and disk, since no model input here is larger.
HARMONIZE_MAX_SIZE = 2048


class HarmonizeParams(_Section):
    size: int = 256  # longest side of the harmonised image, pixels (16 .. HARMONIZE_MAX_SIZE)
    bit_depth: Literal[8, 16] = 8
    reference: str = "cohort_mean"  # "cohort_mean" or a vendor name
    # images sampled (seeded, evenly per vendor) for the reference and the vendor histograms
    reference_sample: int = 600
    match: Literal["vendor", "image"] = "vendor"  # one map per vendor (keeps density cues) or per image
    workers: int = 2
    remove_pectoral: bool = False  # take the pectoral muscle out of the breast mask on MLO views

    @model_validator(mode="after")
    def _check_harmonize(self) -> HarmonizeParams:
        if not 16 <= self.size <= HARMONIZE_MAX_SIZE:
            raise ValueError(
                f"harmonize.size must be within [16, {HARMONIZE_MAX_SIZE}] pixels, got {self.size}"
            )
        return self


class BalanceParams(_Section):
    cap: int | None = None  # per-class count; None = size of the smallest class


class SplitParams(_Section):
    test_fraction: float = 0.15
    val_fraction: float = 0.15  # of the train part
    repeats: int = 1  # number of seeded patient-grouped splits (columns partition, partition_1, ...)
    # holdout: `repeats` independent seeded splits; kfold: the `repeats` folds of one grouped stratified
    # K-fold are the test parts (each image tested once; test_fraction unused)
    method: Literal["holdout", "kfold"] = "holdout"

    @model_validator(mode="after")
    def _check_split(self) -> SplitParams:
        if self.repeats < 1:
            raise ValueError(f"split.repeats must be >= 1 (the number of splits), got {self.repeats}")
        if self.method == "kfold" and self.repeats < 2:
            raise ValueError("split.method kfold needs split.repeats >= 2 (the number of folds)")
        return self


class ClipVariant(_Section):
    """One CLIP variant run through embed, zeroshot and probe (a DVC foreach item)."""

    # The file or folder DVC tracks for this variant's weights: models/adapt for the adapted variant; for
    # the base variant the loader (a demo config) or, with a local model folder in embed.model, that folder.
    weights: str


def _default_variants() -> dict[str, ClipVariant]:
    return {
        "base": ClipVariant(weights="src/breast_density/models/clip.py"),
        "adapted": ClipVariant(weights="models/adapt"),
    }


class EmbedParams(_Section):
    model: str = "demo-tiny-clip"  # open_clip name, "hf-hub:..." id, local dir, or a built-in demo config
    revision: str | None = None
    pretrained: str | None = None  # open_clip pretrained tag or local checkpoint path
    batch_size: int = 32
    workers: int = 0
    variants: dict[str, ClipVariant] = Field(default_factory=_default_variants)

    @model_validator(mode="after")
    def _check_variants(self) -> EmbedParams:
        unknown = sorted(set(self.variants) - {"base", "adapted"})
        if unknown or "base" not in self.variants:
            raise ValueError(f"embed.variants: 'base' and optionally 'adapted', got {sorted(self.variants)}")
        return self


# Forward-pass precision of the finetune stage: auto = bf16 autocast on CUDA and fp32 on CPU (where bf16
# matmuls are usually slower); fp32 or bf16 force one everywhere (bf16 autocast also runs on CPU).
Precision = Literal["auto", "fp32", "bf16"]


class AdaptParams(_Section):
    """Contrastive adaptation of the base CLIP on the train split's (image, English findings) pairs."""

    drop_density_sentence: bool = False  # remove the explicit density statement from the adaptation text
    lock_image: bool = False  # freeze the image tower ...
    image_unlocked_groups: int = 0  # ... except its last N layer groups
    lock_text: bool = False  # freeze the text tower ...
    text_unlocked_layers: int = 0  # ... except its last N layers
    learn_temperature: bool = True  # train the logit scale along with the towers
    image_size: int | None = None  # training/inference input size; None = the model's own
    lr: float = 1e-3
    weight_decay: float = 0.1
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5  # epochs without improvement of the monitored value before stopping
    min_epochs: int = Field(default=10, ge=0)  # no early stop before this epoch
    monitor: Literal["val_loss", "val_zeroshot_accuracy"] = "val_zeroshot_accuracy"
    ema_decay: float = Field(default=0.0, ge=0.0, lt=1.0)  # per-step weight averaging; 0 = off
    grad_checkpointing: bool = False  # trade compute for memory (large towers on a GPU)
    workers: int = 0  # DataLoader processes
    nproc: int = Field(default=1, ge=1)  # data-parallel processes torchrun starts (1 = a single process)
    seed: int | None = None  # order of the training pairs; None = base.seed (the start weights never change)


class ZeroshotParams(_Section):
    templates: list[str] = Field(default_factory=list)  # e.g. "a mammogram showing {}"; empty = study prompts


class ProbeParams(_Section):
    lr: float = 1e-3  # demo; the paper profile uses the study's 1e-4
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 10


class AugmentParams(_Section):
    hflip: bool = True
    vflip: bool = False
    rotate_degrees: float = 5.0
    scale: float = 0.05
    translate: float = 0.03  # fraction of the image side
    brightness: float = 0.1
    contrast: float = 0.1


class FinetuneParams(_Section):
    arch: str = "convnext_atto"
    pretrained: bool = False
    checkpoint: str | None = None  # local weights file; wins over cache and hub
    # model input: an int (square) or [height, width]; a non-square input with geometry keep_aspect keeps
    # the breast's aspect ratio (ConvNeXt takes any size divisible by 32)
    img_size: int | list[int] = 128
    lr: float = 1e-3  # demo trains from scratch; the paper profile fine-tunes at 1e-4
    weight_decay: float = 0.05
    batch_size: int = 64
    max_epochs: int = 15
    patience: int = 5
    lr_schedule: Literal["constant", "cosine"] = "constant"
    workers: int = 1  # one loader process outpaces CPU training; more on a GPU
    nproc: int = Field(default=1, ge=1)  # data-parallel processes torchrun starts (1 = a single process)
    grad_checkpointing: bool = False  # timm activation checkpointing: less memory, ~30% more compute
    precision: Precision = "auto"
    channels_last: Literal["auto"] | bool = "auto"  # memory format; auto = on CUDA only
    augment: AugmentParams = Field(default_factory=AugmentParams)

    @model_validator(mode="after")
    def _check_finetune(self) -> FinetuneParams:
        sides = [self.img_size] if isinstance(self.img_size, int) else self.img_size
        if len(sides) != (1 if isinstance(self.img_size, int) else 2) or min(sides, default=0) < 32:
            raise ValueError(
                f"finetune.img_size must be an int or [height, width], each >= 32, got {self.img_size}"
            )
        return self

    @property
    def input_hw(self) -> tuple[int, int]:
        """img_size as (height, width)."""
        if isinstance(self.img_size, int):
            return self.img_size, self.img_size
        return self.img_size[0], self.img_size[1]


class EvaluateParams(_Section):
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    # resample patients within their class, so every resample keeps every class (no spurious F1 = 0)
    bootstrap_stratified: bool = True
    calibration_bins: int = 10  # equal-width confidence bins of the ECE and the reliability diagram
    # class prevalence for the prevalence-weighted accuracy (the study population's A/B/C/D mix); ignored
    # when its classes are not the configured ones
    prior: dict[str, float] = Field(default_factory=lambda: {"A": 0.12, "B": 0.21, "C": 0.46, "D": 0.21})

    @model_validator(mode="after")
    def _check_evaluate(self) -> EvaluateParams:
        if self.bootstrap_resamples < 1 or self.calibration_bins < 1:
            raise ValueError("evaluate.bootstrap_resamples and evaluate.calibration_bins must be >= 1")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"evaluate.confidence must lie strictly between 0 and 1, got {self.confidence}")
        if self.prior and (min(self.prior.values()) < 0 or abs(sum(self.prior.values()) - 1) > 1e-6):
            raise ValueError(f"evaluate.prior must be weights >= 0 summing to 1, got {self.prior}")
        return self


class PlotsTemplateParams(_Section):
    vega_lite: str = "5.21"  # vega-lite inlined in the offline `dvc plots show` page (DVC's plots use v5)


class Params(_Section):
    base: BaseParams = Field(default_factory=BaseParams)
    classes: list[DensityClass] = Field(default_factory=_default_classes)
    # how every model sees the non-square breast crop: letterbox (pad to a square, whole breast) | squash
    # (resize to a square) | keep_aspect (pad only to the model input's own H:W ratio, whole breast)
    geometry: Literal["letterbox", "squash", "keep_aspect"] = "letterbox"
    data: DataParams = Field(default_factory=DataParams)
    cohort: CohortParams = Field(default_factory=CohortParams)
    ingest: IngestParams = Field(default_factory=IngestParams)
    normalize: NormalizeParams = Field(default_factory=NormalizeParams)
    translate: TranslateParams = Field(default_factory=TranslateParams)
    label: LabelParams = Field(default_factory=LabelParams)
    harmonize: HarmonizeParams = Field(default_factory=HarmonizeParams)
    balance: BalanceParams = Field(default_factory=BalanceParams)
    split: SplitParams = Field(default_factory=SplitParams)
    adapt: AdaptParams = Field(default_factory=AdaptParams)
    embed: EmbedParams = Field(default_factory=EmbedParams)
    zeroshot: ZeroshotParams = Field(default_factory=ZeroshotParams)
    probe: ProbeParams = Field(default_factory=ProbeParams)
    finetune: FinetuneParams = Field(default_factory=FinetuneParams)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    plots_template: PlotsTemplateParams = Field(default_factory=PlotsTemplateParams)

    @model_validator(mode="after")
    def _check_classes(self) -> Params:
        names = [c.name for c in self.classes]
        if len(names) < 2:
            raise ValueError("classes: at least two classes are needed")
        if len(set(names)) != len(names):
            raise ValueError(f"classes: duplicate class names in {names}")
        unknown = sorted(set(self.data.label_map.values()) - set(names))
        if unknown:
            raise ValueError(f"data.label_map maps to unknown classes {unknown}; classes are {names}")
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


def _format_errors(err: ValidationError, source: str) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<top level>"
        if e["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown key '{key}'")
        else:
            lines.append(f"{source}: key '{key}': {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def parse_params(raw: dict, source: str = "params") -> Params:
    """Validate a params mapping; ParamsError names every offending key."""
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        raise ParamsError(_format_errors(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml (the only place the file is opened)."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: parameter file not found (run from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping of sections")
    return parse_params(raw or {}, str(path))


def read_yaml_mapping(path: str | Path) -> dict:
    """Raw YAML mapping, for profile files merged into params.yaml by the CLI."""
    path = Path(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping")
    return raw

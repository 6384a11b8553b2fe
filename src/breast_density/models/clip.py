"""Load a CLIP model (BiomedCLIP or any open_clip model) with its preprocessing, tokenizer and logit scale.

`model` (params ``embed.model``) is one of:

* ``hf-hub:<org>/<repo>`` -- e.g. ``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224``;
  resolved from the local Hugging Face cache first, then the hub (never when ``HF_HUB_OFFLINE=1``);
  ``revision`` pins a hub commit or tag.
* a local directory, for machines without internet. It must hold the files of the hub repository:

  - ``open_clip_config.json``  (``model_cfg`` + ``preprocess_cfg``)
  - ``open_clip_pytorch_model.bin`` or ``open_clip_model.safetensors`` (the full CLIP weights)
  - the text tokenizer, for a Hugging Face text tower: ``vocab.txt`` + ``tokenizer_config.json``
    (``tokenizer.json`` / ``special_tokens_map.json`` when present)
  - optionally ``config.json`` of the Hugging Face text model; for BiomedBERT a copy ships with this package.

  Get them on a connected machine with ``huggingface-cli download <id> --local-dir DIR`` and copy DIR over.
* an open_clip built-in architecture name (``ViT-B-32``) with ``pretrained`` = an open_clip tag or a
  checkpoint file.
* a built-in demo name (``demo-tiny-clip``): a tiny architecture with random (seeded) weights, for running the
  pipeline offline; its outputs are meaningless as absolute numbers and are flagged ``untrained``.

A model that cannot be found fails at once with `ModelNotAvailableError`, naming the fix; there is no
retry loop and never a silent fallback to random weights.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import open_clip
import torch
from open_clip.tokenizer import HFTokenizer
from open_clip.transform import PreprocessCfg, image_transform_v2

from breast_density.hub import cached_file, hub_offline

log = logging.getLogger(__name__)

HF_HUB_PREFIX = "hf-hub:"
BIOMEDCLIP = "hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"

# Hub ids whose open_clip config ships with the package, so the architecture builds with no network.
_BUNDLED_CLIP_CONFIGS = {
    "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224": "biomedclip_open_clip_config.json",
}
# Hugging Face text towers whose transformers config ships with the package (BiomedBERT was renamed
# from PubMedBERT; both names point at the same model).
_BUNDLED_TEXT_CONFIGS = {
    "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract": "biomedbert_base_uncased_abstract_config.json",
    "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract": "biomedbert_base_uncased_abstract_config.json",
}
_WEIGHT_FILES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
_TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
_HUB_FILES = ["open_clip_config.json", "config.json", *_WEIGHT_FILES, *_TOKENIZER_FILES]

# Demo architectures: small enough to embed ~600 images in seconds on 2 CPU cores. The text tower uses
# open_clip's built-in BPE tokenizer, which needs no download.
# Image tower: open_clip's ModifiedResNet (a list of `layers` selects it), one block per stage, 16 channels
# wide: trained from scratch on ~400 pairs, a CNN learns the demo's density texture where a 2-layer ViT at the
# same cost does not (validation zero-shot accuracy after adapt 0.72 vs 0.52, mean over 4 seeds). Text context
# 64 tokens: the English findings run to 65 tokens, and one density statement in six ends past token 32.
DEMO_MODELS: dict[str, dict[str, Any]] = {
    "demo-tiny-clip": {
        "model_cfg": {
            "embed_dim": 64,
            "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 64},
            "text_cfg": {"context_length": 64, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
        },
        "preprocess_cfg": {},
    },
    # The same text tower with a 2-layer ViT image tower: no batch statistics (like BiomedCLIP's ViT), so
    # data-parallel adaptation reproduces the single-process run exactly, and its input size can change
    # (adapt.image_size). Learns the demo's density less well from scratch than the CNN (see above).
    "demo-tiny-vit-clip": {
        "model_cfg": {
            "embed_dim": 64,
            "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
            "text_cfg": {"context_length": 64, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
        },
        "preprocess_cfg": {},
    },
}


class ModelNotAvailableError(FileNotFoundError):
    """The requested model (or its weights / tokenizer) is not available locally and cannot be fetched.

    A FileNotFoundError, so stages and the CLI report it as one line naming the fix, without a traceback.
    """


@dataclass
class ClipBundle:
    """A loaded CLIP model with what is needed to use it consistently."""

    model: torch.nn.Module
    preprocess: Callable[[Any], torch.Tensor]  # PIL RGB image -> normalised CHW tensor
    tokenizer: Callable[[list[str]], torch.Tensor]
    logit_scale: float  # exp of the learned temperature, multiplies cosine similarities
    name: str
    untrained: bool  # True for the demo models: random weights, results meaningless as absolute numbers
    embed_dim: int
    image_size: tuple[int, int]
    # open_clip config ({"model_cfg", "preprocess_cfg"}) and the folder its tokenizer / text config came
    # from (None for built-in configs): what `save_clip_folder` needs to write a loadable copy.
    config: dict[str, Any] = field(default_factory=dict)
    source_dir: Path | None = None


def _fix_hint(model: str) -> str:
    repo = model.removeprefix(HF_HUB_PREFIX)
    return (
        f"Fix: on a machine with internet run `huggingface-cli download {repo} --local-dir DIR`, copy DIR "
        "here and set embed.model to DIR in params.yaml (or unset HF_HUB_OFFLINE to download into the cache)."
    )


def _resource(name: str) -> Path:
    return Path(str(resources.files("breast_density.resources").joinpath(name)))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelNotAvailableError(f"{path}: unreadable model config ({err})") from None


# --- locating files ---------------------------------------------------------------------------------------


def _weights_in(directory: Path) -> Path | None:
    return next((directory / f for f in _WEIGHT_FILES if (directory / f).is_file()), None)


def _hub_snapshot(model: str, revision: str | None) -> Path:
    """Local snapshot folder of an hf-hub model: the cache first, the hub only when online."""
    from huggingface_hub import snapshot_download

    repo = model.removeprefix(HF_HUB_PREFIX)
    where = f"{model}" + (f" (revision {revision})" if revision else "")
    try:
        folder = Path(
            snapshot_download(repo, revision=revision, allow_patterns=_HUB_FILES, local_files_only=True)
        )
        if (folder / "open_clip_config.json").is_file() and _weights_in(folder):
            return folder
    except Exception as err:  # any cache miss is handled the same way below
        log.debug("%s not in the local Hugging Face cache: %s", where, err)
    if hub_offline():
        raise ModelNotAvailableError(
            f"model {where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set. "
            f"{_fix_hint(model)}"
        )
    log.info("downloading %s from the Hugging Face hub", where)
    try:
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=_HUB_FILES))
    except Exception as err:
        raise ModelNotAvailableError(
            f"model {where} could not be downloaded: {err}. {_fix_hint(model)}"
        ) from None
    if not _weights_in(folder):
        raise ModelNotAvailableError(
            f"model {where} has no open_clip weights file ({', '.join(_WEIGHT_FILES)})"
        )
    return folder


def _check_local_dir(directory: Path) -> None:
    missing = []
    if not (directory / "open_clip_config.json").is_file():
        missing.append("open_clip_config.json")
    if _weights_in(directory) is None:
        missing.append(" or ".join(_WEIGHT_FILES[:3]))
    if missing:
        raise ModelNotAvailableError(
            f"{directory}: model folder lacks {'; '.join(missing)}. It must hold the files of the hub "
            f"repository (see breast_density.models.clip). {_fix_hint('<hub id>')}"
        )


# --- building the architecture ----------------------------------------------------------------------------


def _text_config_source(name: str, directory: Path | None) -> str:
    """Where transformers should read the text tower's config from, without touching the network."""
    if directory is not None and (directory / "config.json").is_file():
        return str(directory / "config.json")
    cached = cached_file(name, "config.json")
    if cached is not None:
        return str(cached)
    if name in _BUNDLED_TEXT_CONFIGS:
        return str(_resource(_BUNDLED_TEXT_CONFIGS[name]))
    if hub_offline():
        raise ModelNotAvailableError(
            f"text model config '{name}' is not cached and HF_HUB_OFFLINE is set: put its config.json into "
            f"the model folder. {_fix_hint(name)}"
        )
    return name


def _instantiate(model_cfg: dict[str, Any], directory: Path | None = None) -> torch.nn.Module:
    """The open_clip model class for a config, with no weights and no base-tower downloads."""
    cfg = copy.deepcopy(model_cfg)
    vision_cfg, text_cfg = cfg["vision_cfg"], cfg["text_cfg"]
    if "timm_model_name" in vision_cfg:
        vision_cfg["timm_model_pretrained"] = False
    hf_text = "hf_model_name" in text_cfg
    if hf_text:
        text_cfg["hf_model_pretrained"] = False
        # HFTextEncoder reads the transformers config by name; a file path keeps it offline.
        text_cfg["hf_model_name"] = _text_config_source(text_cfg["hf_model_name"], directory)
    custom_text = cfg.pop("custom_text", False) or hf_text
    if "multimodal_cfg" in cfg:
        raise ModelNotAvailableError("captioning (CoCa) models are not supported for embedding")
    model_class = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    return model_class(**cfg)


def _preprocess(model: torch.nn.Module, preprocess_cfg: dict[str, Any]) -> Callable:
    merged = {**asdict(PreprocessCfg()), **preprocess_cfg}
    merged["size"] = model.visual.image_size  # the model's own input size wins, as in open_clip
    return image_transform_v2(PreprocessCfg(**merged), is_train=False)


def _image_size(model: torch.nn.Module) -> tuple[int, int]:
    size = model.visual.image_size
    return (size, size) if isinstance(size, int) else tuple(size)


def _architecture_config(model: str) -> tuple[dict[str, Any], Path | None]:
    """(open_clip config with model_cfg / preprocess_cfg, folder it came from), without any download."""
    if model in DEMO_MODELS:
        return DEMO_MODELS[model], None
    directory = Path(model)
    if not model.startswith(HF_HUB_PREFIX) and directory.is_dir():
        return _read_json(directory / "open_clip_config.json"), directory
    if model.startswith(HF_HUB_PREFIX):
        repo = model.removeprefix(HF_HUB_PREFIX)
        if repo in _BUNDLED_CLIP_CONFIGS:
            return _read_json(_resource(_BUNDLED_CLIP_CONFIGS[repo])), None
        cached = cached_file(repo, "open_clip_config.json")
        if cached is None:
            raise ModelNotAvailableError(
                f"no open_clip config for {model} in the local cache. {_fix_hint(model)}"
            )
        return _read_json(cached), cached.parent
    cfg = open_clip.get_model_config(model)
    if cfg is None:
        raise ModelNotAvailableError(
            f"unknown model '{model}': not a demo name, folder, hf-hub id or open_clip name"
        )
    return {"model_cfg": cfg}, None


def build_clip_architecture(model: str) -> torch.nn.Module:
    """The model's architecture with random weights and no download (profile checks, tests).

    Works offline for the demo models, the bundled BiomedCLIP config, local folders and open_clip built-ins.
    Inside ``with torch.device("meta"):`` it checks a configuration in seconds without allocating weights.
    """
    cfg, directory = _architecture_config(model)
    return _instantiate(cfg.get("model_cfg", cfg), directory)


def architecture_bundle(model: str, device: torch.device | str | None = None) -> ClipBundle:
    """Random-weight bundle of `model` with its real preprocessing, for throughput benchmarks (no weights).

    Flagged untrained. Its tokenizer is the real one when available offline, else one that raises.
    """
    cfg, directory = _architecture_config(model)
    model_cfg = cfg.get("model_cfg", cfg)
    clip = _instantiate(model_cfg, directory)
    try:
        tokenizer = _tokenizer(model_cfg["text_cfg"], directory, model)
    except ModelNotAvailableError as err:
        message = str(err)

        def tokenizer(texts: list[str]) -> torch.Tensor:
            raise ModelNotAvailableError(message)

    preprocess = _preprocess(clip, cfg.get("preprocess_cfg", {}))
    bundle = _finish(clip, preprocess, tokenizer, model, True, device)
    return replace(bundle, config=_full_config(cfg), source_dir=directory)


def _full_config(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_cfg": copy.deepcopy(cfg.get("model_cfg", cfg)),
        "preprocess_cfg": cfg.get("preprocess_cfg", {}),
    }


# --- tokenizers -------------------------------------------------------------------------------------------


def _tokenizer(text_cfg: dict[str, Any], directory: Path | None, model: str) -> Callable:
    context_length = text_cfg.get("context_length", 77)
    name = text_cfg.get("hf_tokenizer_name")
    if not name:
        return open_clip.SimpleTokenizer(context_length=context_length)
    kwargs = text_cfg.get("tokenizer_kwargs", {})
    has_local = directory is not None and any(
        (directory / f).is_file() for f in ("vocab.txt", "tokenizer.json")
    )
    source = str(directory) if has_local else name
    try:
        return HFTokenizer(source, context_length=context_length, **kwargs)
    except (OSError, ValueError) as err:  # transformers: missing files / bad config
        raise ModelNotAvailableError(
            f"tokenizer '{source}' of {model} is not available ({type(err).__name__}: {err}); put vocab.txt "
            f"and tokenizer_config.json into the model folder. {_fix_hint(name)}"
        ) from None


# --- loading ----------------------------------------------------------------------------------------------


def _finish(
    model: torch.nn.Module, preprocess: Callable, tokenizer: Callable, name: str, untrained: bool, device
) -> ClipBundle:
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    # the shared embedding width is declared differently per tower type; a forward is the last resort
    embed_dim = getattr(model.visual, "output_dim", None) or getattr(
        getattr(model, "text", None), "output_dim", 0
    )
    if not embed_dim:
        with torch.inference_mode():
            h, w = _image_size(model)
            embed_dim = int(model.encode_image(torch.zeros(1, 3, h, w, device=device)).shape[-1])
    return ClipBundle(
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        logit_scale=float(model.logit_scale.exp().item()),
        name=name,
        untrained=untrained,
        embed_dim=embed_dim,
        image_size=_image_size(model),
    )


def _load_folder(directory: Path, name: str, device) -> ClipBundle:
    cfg = _read_json(directory / "open_clip_config.json")
    model_cfg = cfg.get("model_cfg", cfg)
    model = _instantiate(model_cfg, directory)
    weights = _weights_in(directory)
    log.info("loading %s weights from %s", name, weights)
    try:
        # strict: a config that does not match the weights is an error, never a partially random model.
        open_clip.load_checkpoint(model, str(weights), strict=True)
    except (RuntimeError, OSError, ValueError) as err:
        raise ModelNotAvailableError(
            f"{weights}: weights do not load into {name}'s architecture: {err}"
        ) from None
    tokenizer = _tokenizer(model_cfg["text_cfg"], directory, name)
    bundle = _finish(model, _preprocess(model, cfg.get("preprocess_cfg", {})), tokenizer, name, False, device)
    return replace(bundle, config=_full_config(cfg), source_dir=directory)


def _load_builtin(model: str, pretrained: str | None, device) -> ClipBundle:
    if open_clip.get_model_config(model) is None:
        looks_like_path = "/" in model or "\\" in model or model.startswith(".")
        hint = (
            f" No folder '{model}' exists; for a hub model write 'hf-hub:{model}'." if looks_like_path else ""
        )
        raise ModelNotAvailableError(
            f"unknown model '{model}': expected a demo name ({', '.join(DEMO_MODELS)}), an existing folder, "
            f"'hf-hub:<org>/<repo>' or an open_clip architecture name.{hint}"
        )
    if not pretrained:
        raise ModelNotAvailableError(
            f"open_clip model '{model}' needs weights: set embed.pretrained to a checkpoint file or an "
            f"open_clip tag ({', '.join(open_clip.list_pretrained_tags_by_model(model)) or 'none known'})"
        )
    try:
        clip, _, preprocess = open_clip.create_model_and_transforms(
            model, pretrained=pretrained, require_pretrained=True, load_weights=True
        )
    except Exception as err:  # open_clip wraps download and tag errors in several types
        hint = " (HF_HUB_OFFLINE is set and they are not cached)" if hub_offline() else ""
        raise ModelNotAvailableError(
            f"open_clip model {model} with weights '{pretrained}' could not be loaded{hint}: {err}. "
            f"Fix: download the checkpoint on a connected machine and set embed.pretrained to the file."
        ) from None
    tokenizer = open_clip.get_tokenizer(model)
    bundle = _finish(clip, preprocess, tokenizer, model, False, device)
    return replace(bundle, config=_full_config(open_clip.get_model_config(model)))


def load_clip(
    model: str,
    *,
    pretrained: str | None = None,
    revision: str | None = None,
    device: torch.device | str | None = None,
) -> ClipBundle:
    """Load `model` (see the module docstring for the accepted forms) in eval mode with frozen weights.

    Demo models get random weights from the current torch RNG state (seed it first for reproducibility).
    """
    if model in DEMO_MODELS:
        log.warning(
            "embed.model=%s is a tiny UNTRAINED demo architecture (random, seeded weights): its embeddings "
            "and zero-shot results are meaningless as absolute numbers; the paper profile uses BiomedCLIP.",
            model,
        )
        return architecture_bundle(model, device)
    is_hub, directory = model.startswith(HF_HUB_PREFIX), Path(model)
    if pretrained and (is_hub or directory.is_dir()):
        log.warning("embed.pretrained=%s ignored: %s carries its own weights", pretrained, model)
    if revision and not is_hub:
        log.warning("embed.revision=%s ignored: it pins hub models only, not %s", revision, model)
    if is_hub:
        return _load_folder(_hub_snapshot(model, revision), model, device)
    if directory.is_dir():
        _check_local_dir(directory)
        return _load_folder(directory, model, device)
    return _load_builtin(model, pretrained, device)


# --- writing ----------------------------------------------------------------------------------------------

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"


def save_clip_folder(bundle: ClipBundle, model: torch.nn.Module, out_dir: str | Path) -> Path:
    """Write `model` (same architecture as `bundle`) as a folder that `load_clip(folder)` and open_clip's
    ``create_model_and_transforms("local-dir:<folder>")`` both load: open_clip_config.json, safetensors
    weights and, for a Hugging Face text tower, its config.json and tokenizer files."""
    from breast_density.models.bundle import write_bundle

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(bundle.config)
    # the complete preprocessing, so the folder alone says how images enter the model
    preprocess = {**asdict(PreprocessCfg()), **config.get("preprocess_cfg", {})}
    preprocess["size"] = list(bundle.image_size)
    config["preprocess_cfg"] = preprocess
    copies: dict[str, Path] = {}
    text_cfg = bundle.config.get("model_cfg", {}).get("text_cfg", {})
    if "hf_model_name" in text_cfg:
        source = Path(_text_config_source(text_cfg["hf_model_name"], bundle.source_dir))
        if source.is_file():
            copies["config.json"] = source
        if bundle.source_dir is not None:
            copies.update(
                {f: bundle.source_dir / f for f in _TOKENIZER_FILES if (bundle.source_dir / f).is_file()}
            )
    return write_bundle(
        out, config, config_file=CONFIG_FILE, weights=model.state_dict(), weights_file=WEIGHTS_FILE,
        copies=copies,
    )  # fmt: skip


def with_image_size(bundle: ClipBundle, size: int) -> ClipBundle:
    """`bundle` rebuilt for square `size` px input: a built-in ViT image tower gets its position embedding
    interpolated (open_clip's own resize); other towers must already take that size."""
    if bundle.image_size == (size, size):
        return bundle
    cfg = copy.deepcopy(bundle.config)
    vision = cfg["model_cfg"]["vision_cfg"]
    if "timm_model_name" in vision or vision.get("layers") is None or isinstance(vision["layers"], list):
        raise ValueError(
            f"adapt.image_size={size}: only built-in ViT image towers can change input size "
            f"({bundle.name} takes {bundle.image_size[0]} px); set adapt.image_size to null"
        )
    vision["image_size"] = size
    model = _instantiate(cfg["model_cfg"], bundle.source_dir)
    state = bundle.model.state_dict()
    open_clip.model.resize_pos_embed(state, model)
    model.load_state_dict(state)
    preprocess = _preprocess(model, cfg.get("preprocess_cfg", {}))
    resized = _finish(
        model,
        preprocess,
        bundle.tokenizer,
        bundle.name,
        bundle.untrained,
        next(bundle.model.parameters()).device,
    )
    return replace(resized, config=cfg, source_dir=bundle.source_dir)

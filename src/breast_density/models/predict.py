"""Density of new DICOM/PNG files with a saved model bundle (fine-tuned ConvNeXt, linear probe or zero-shot).

Every file goes through the harmonize stage's own function with the recipe the bundle carries (a copy of the
stage's spec.json), so it gets exactly the pixels the training images got; then the model. Nothing outside
the bundle is read. A file that cannot be read or masked is
reported by name on stderr and makes the exit code non-zero; the other files are still classified.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from breast_density import paths
from breast_density.data.datasets import input_hw, to_rgb_image
from breast_density.imaging.decode import ImageReadError, is_raster
from breast_density.imaging.dicom_header import scan_header
from breast_density.imaging.mask import MaskError
from breast_density.imaging.spec import HarmonizeSpec, harmonize_file, load_spec
from breast_density.io import read_json
from breast_density.models.devices import autocast, pick_device

log = logging.getLogger(__name__)


class Predictor:
    """A loaded model: harmonised grayscale images -> class probabilities."""

    class_names: list[str]
    spec: HarmonizeSpec

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError


def _as_uint8(image: np.ndarray) -> np.ndarray:
    # Same rule as data.datasets.load_grayscale_png, so 16-bit harmonisation is seen as in training.
    return (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image


def _bundle_spec(model_dir: Path) -> HarmonizeSpec:
    path = model_dir / paths.BUNDLE_SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the model bundle carries no harmonisation spec (saved by an older version; "
            "rerun its training stage)"
        )
    return load_spec(path)


class ConvNeXtPredictor(Predictor):
    def __init__(self, model_dir: Path, device: torch.device) -> None:
        from breast_density.models.augment import eval_transform
        from breast_density.models.convnext import load_bundle

        self.model, config = load_bundle(model_dir)
        self.model.to(device)
        self.device = device
        self.class_names = list(config["class_names"])
        data = config["data_config"]
        self.transform = eval_transform(config["img_size"], data["mean"], data["std"], data["interpolation"])
        # The bundle's own geometry and input shape (bundles from before the option existed: letterbox).
        self.geometry = config.get("geometry", "letterbox")
        self.input_size = input_hw(config["img_size"])
        # Forward precision as trained: "auto" for bundles that do not record one.
        self.precision = config.get("training", {}).get("precision", "auto")
        self.spec = _bundle_spec(model_dir)

    def model_input(self, images: list[np.ndarray]) -> torch.Tensor:
        """The batch the model sees: the same geometry, resize and normalisation as in training."""
        shaped = [to_rgb_image(_as_uint8(img), self.geometry, self.input_size) for img in images]
        return torch.stack([self.transform(img) for img in shaped])

    @torch.no_grad()
    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        batch = self.model_input(images)
        with autocast(self.device, self.precision):
            logits = self.model(batch.to(self.device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()


class _ClipPredictor(Predictor):
    """Images -> L2-normalised embeddings of a CLIP model named in a bundle (probe or zero-shot)."""

    def _load_clip(
        self,
        model_dir: Path,
        model: str,
        pretrained: str | None,
        revision: str | None,
        seed: int,
        device,
        geometry: str = "letterbox",
    ) -> None:
        from breast_density.models.clip import load_clip
        from breast_density.seeding import seed_everything

        # Demo base models draw their weights from the seeded RNG, exactly as the embed stage does.
        seed_everything(seed)
        self.clip = load_clip(model, pretrained=pretrained, revision=revision, device=device)
        self.device = device
        # probe and zero-shot bundles do not record the embed geometry yet: the default unless they do
        self.geometry = geometry
        self.spec = _bundle_spec(model_dir)

    @torch.no_grad()
    def embeddings(self, images: list[np.ndarray]) -> np.ndarray:
        shaped = [to_rgb_image(_as_uint8(img), self.geometry, self.clip.image_size) for img in images]
        batch = torch.stack([self.clip.preprocess(img) for img in shaped])
        with autocast(self.device):
            features = self.clip.model.encode_image(batch.to(self.device))
        return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()


class ProbePredictor(_ClipPredictor):
    """Frozen CLIP image embedding (base or adapted) + the linear probe."""

    def __init__(self, model_dir: Path, device: torch.device) -> None:
        from breast_density.models.probe import load_probe

        self.probe, config = load_probe(model_dir)
        self.class_names = list(config["classes"])
        if config.get("untrained_embeddings"):
            log.warning(
                "the probe was trained on an untrained demo embedding model: predictions are arbitrary"
            )
        self._load_clip(
            model_dir,
            config["embedding_model"],
            config.get("embedding_pretrained"),
            config.get("embedding_revision"),
            int(config["training"]["seed"]),
            device,
            config.get("geometry", "letterbox"),
        )

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        from breast_density.models.probe import predict_proba

        return predict_proba(self.probe, self.embeddings(images))


class ZeroShotPredictor(_ClipPredictor):
    """CLIP image embedding against the class-prompt embeddings the zeroshot stage saved."""

    def __init__(self, model_dir: Path, device: torch.device) -> None:
        from safetensors.torch import load_file

        from breast_density.models.zeroshot import CLASS_EMBEDDINGS, WEIGHTS_FILE

        config = read_json(model_dir / "config.json")
        self.class_names = list(config["classes"])
        self.class_embeddings = load_file(str(model_dir / WEIGHTS_FILE))[CLASS_EMBEDDINGS].numpy()
        self.logit_scale = float(config["logit_scale"])
        if config.get("untrained"):
            log.warning("zero-shot with an untrained demo CLIP: predictions are arbitrary")
        self._load_clip(
            model_dir,
            config["clip_model"],
            config.get("clip_pretrained"),
            config.get("clip_revision"),
            int(config["seed"]),
            device,
            config.get("geometry", "letterbox"),
        )

    def probabilities(self, images: list[np.ndarray]) -> np.ndarray:
        from breast_density.models.zeroshot import zero_shot_probabilities

        return zero_shot_probabilities(self.embeddings(images), self.class_embeddings, self.logit_scale)


def load_predictor(model_dir: str | Path, device: torch.device | None = None) -> Predictor:
    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    skipped = model_dir / "skipped.json"
    if skipped.is_file():
        reason = read_json(skipped).get("reason", "")
        raise FileNotFoundError(f"{model_dir}: this model was not trained ({reason})")
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: no saved model (run `dvc repro` for that stage first)")
    config = read_json(config_path)
    device = device or pick_device()
    if config.get("kind") == "finetune":
        return ConvNeXtPredictor(model_dir, device)
    if config.get("kind") == "zeroshot":
        return ZeroShotPredictor(model_dir, device)
    if "embedding_model" in config:
        return ProbePredictor(model_dir, device)
    raise ValueError(f"{config_path}: not a fine-tuned ConvNeXt, linear-probe or zero-shot bundle")


def harmonize_new_file(
    path: Path, spec: HarmonizeSpec, laterality: str | None = None, vendor: str | None = None
) -> tuple[np.ndarray, list[str]]:
    """Decode + harmonise one file exactly as the harmonize stage did for training; (image, warnings).

    Raises ImageReadError (a ValueError naming the file) on unusable input.
    """
    notes: list[str] = []
    try:
        header = None if is_raster(path) else scan_header(path)
    except ValueError as err:
        raise ImageReadError(path, str(err)) from None
    # Without a laterality the breast mask alone decides the chest-wall side (reliable unless the breast
    # fills the whole detector width).
    side = laterality or (header.laterality if header else "")
    maker = vendor or (header.vendor if header else "") or "unknown"
    if spec.match == "vendor" and spec.lut_for(maker) is None:
        notes.append(
            f"vendor {maker!r} is not one of the training vendors {sorted(spec.vendor_luts)}: "
            "matched on the image's own histogram instead"
        )
    try:
        image = harmonize_file(path, side, maker, spec, header.view if header else "").image
    except MaskError as err:
        raise ImageReadError(path, f"no usable breast mask ({err})") from None
    return image, notes


def predict_files(
    predictor: Predictor, files: list[Path], laterality: str | None = None, vendor: str | None = None
) -> list[dict[str, Any]]:
    """One result per file: {file, density, probabilities, warnings} or {file, error}."""
    results: list[dict[str, Any]] = []
    ready: list[tuple[int, np.ndarray]] = []
    for path in files:
        try:
            image, notes = harmonize_new_file(path, predictor.spec, laterality, vendor)
        except ValueError as err:  # ImageReadError, MaskError: the message names the file
            results.append({"file": str(path), "error": str(err)})
            continue
        results.append({"file": str(path), "warnings": notes})
        ready.append((len(results) - 1, image))
    if ready:
        probs = predictor.probabilities([image for _, image in ready])
        for (i, _), row in zip(ready, probs, strict=True):
            results[i]["density"] = predictor.class_names[int(row.argmax())]
            results[i]["probabilities"] = {
                name: round(float(p), 4) for name, p in zip(predictor.class_names, row, strict=True)
            }
    return results

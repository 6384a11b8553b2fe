"""Zero-shot classification: cosine similarity of image and class-prompt embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import softmax

from breast_density.params import DensityClass


def class_prompts(classes: Sequence[DensityClass], templates: Sequence[str]) -> list[list[str]]:
    """Per class: the study's prompt, then every template filled with the class description.

    With no templates this is exactly the study's one prompt per class; templates add a prompt ensemble.
    """
    for template in templates:
        if template.count("{}") != 1:
            raise ValueError(f"zeroshot.templates: '{template}' must contain exactly one '{{}}' placeholder")
    return [[c.prompt, *(t.format(c.description) for t in templates)] for c in classes]


def zero_shot_probabilities(
    image_embeddings: np.ndarray, text_embeddings: np.ndarray, logit_scale: float
) -> np.ndarray:
    """N x C class probabilities: softmax over logit_scale * cosine similarity (inputs L2-normalised)."""
    if image_embeddings.shape[1] != text_embeddings.shape[1]:
        raise ValueError(
            f"image embeddings have {image_embeddings.shape[1]} dims but text embeddings "
            f"{text_embeddings.shape[1]}: they come from different models (rerun embed)"
        )
    logits = logit_scale * (image_embeddings.astype(np.float64) @ text_embeddings.astype(np.float64).T)
    return softmax(logits, axis=1)


# The zeroshot bundle: the class-prompt embeddings (safetensors) beside a config naming the CLIP.
WEIGHTS_FILE = "class_embeddings.safetensors"
CLASS_EMBEDDINGS = "class_embeddings"

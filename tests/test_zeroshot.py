import numpy as np
import pandas as pd
import pytest

from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.zeroshot import class_prompts, zero_shot_probabilities
from breast_density.params import Params


def test_prompts_are_the_study_prompt_plus_filled_templates():
    classes = Params().classes
    plain = class_prompts(classes, [])
    assert plain == [[c.prompt] for c in classes]
    ensemble = class_prompts(classes, ["a mammogram showing {} tissue"])
    assert ensemble[0] == [classes[0].prompt, f"a mammogram showing {classes[0].description} tissue"]
    with pytest.raises(ValueError, match="exactly one"):
        class_prompts(classes, ["no placeholder"])


def _constructed(n_per_class=20, n_classes=3, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    text = np.linalg.qr(rng.normal(size=(dim, n_classes)))[0].T  # orthonormal class directions
    labels = np.repeat(np.arange(n_classes), n_per_class)
    images = text[labels] + 0.3 * rng.normal(size=(len(labels), dim)) / np.sqrt(dim)
    images /= np.linalg.norm(images, axis=1, keepdims=True)
    return images, text, labels


def test_zero_shot_picks_the_class_whose_prompt_matches():
    images, text, labels = _constructed()
    probs = zero_shot_probabilities(images, text, logit_scale=100.0)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    np.testing.assert_array_equal(probs.argmax(1), labels)


def test_logit_scale_sharpens_but_keeps_the_ranking():
    images, text, _ = _constructed()
    soft = zero_shot_probabilities(images, text, logit_scale=1.0)
    sharp = zero_shot_probabilities(images, text, logit_scale=100.0)
    np.testing.assert_array_equal(soft.argmax(1), sharp.argmax(1))
    assert (sharp.max(1) > soft.max(1)).all()


def test_embeddings_from_different_models_are_rejected():
    with pytest.raises(ValueError, match="different models"):
        zero_shot_probabilities(np.ones((2, 8)), np.ones((3, 16)), 10.0)


def test_prediction_frame_has_the_contract_columns():
    rows = pd.DataFrame(
        {
            "image_id": ["i1", "i2"],
            "exam_id": ["e1", "e1"],
            "patient_id": ["p1", "p1"],
            "partition": ["test", "train"],
            "label": ["B", "A"],
            "path": ["x", "y"],
        }
    )
    table = prediction_frame(rows, np.array([[0.2, 0.8], [0.6, 0.4]]), ["A", "B"])
    assert list(table.columns) == [
        "image_id", "exam_id", "patient_id", "partition", "actual", "predicted", "p_A", "p_B",
    ]  # fmt: skip
    assert table["predicted"].tolist() == ["B", "A"] and table["actual"].tolist() == ["B", "A"]
    with pytest.raises(ValueError, match="shape"):
        prediction_frame(rows, np.ones((2, 3)), ["A", "B"])

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.transforms import functional as tf

from breast_density.data.datasets import HarmonizedImages, load_grayscale_png


def test_8_and_16_bit_pngs_load_to_the_same_uint8_image(tmp_path):
    img8 = np.arange(256, dtype=np.uint8).reshape(16, 16)
    cv2.imwrite(str(tmp_path / "a.png"), img8)
    cv2.imwrite(str(tmp_path / "b.png"), img8.astype(np.uint16) * 257)
    assert np.array_equal(load_grayscale_png(tmp_path / "a.png"), load_grayscale_png(tmp_path / "b.png"))


def test_dataset_returns_rgb_tensor_and_class_index(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.full((8, 6), 200, np.uint8))
    frame = pd.DataFrame({"path": [str(tmp_path / "x.png")], "label": ["C"]})
    ds = HarmonizedImages(frame, tf.to_tensor, class_names=["A", "B", "C", "D"])
    image, target = ds[0]
    assert image.shape == (3, 8, 6) and target == 2
    assert torch.allclose(image[0], image[2])


def test_unknown_label_and_missing_file_are_clear_errors(tmp_path):
    frame = pd.DataFrame({"path": [str(tmp_path / "gone.png")], "label": ["E"]})
    with pytest.raises(ValueError, match=r"\['E'\]"):
        HarmonizedImages(frame, tf.to_tensor, class_names=["A", "B"])
    ds = HarmonizedImages(frame.drop(columns="label"), tf.to_tensor)
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        ds[0]

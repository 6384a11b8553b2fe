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
    assert image.shape == (3, 8, 8) and target == 2  # letterboxed to a square
    assert torch.allclose(image[0], image[2])


def test_unknown_label_and_missing_file_are_clear_errors(tmp_path):
    frame = pd.DataFrame({"path": [str(tmp_path / "gone.png")], "label": ["E"]})
    with pytest.raises(ValueError, match=r"\['E'\]"):
        HarmonizedImages(frame, tf.to_tensor, class_names=["A", "B"])
    ds = HarmonizedImages(frame.drop(columns="label"), tf.to_tensor)
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        ds[0]


def _open_clip_like(size: int):
    """open_clip's preprocessing geometry: resize the short side to `size`, then centre-crop a square."""
    from torchvision.transforms import v2

    return v2.Compose(
        [v2.ToImage(), v2.Resize(size), v2.CenterCrop(size), v2.ToDtype(torch.float32, scale=True)]
    )


def test_letterbox_keeps_every_breast_pixel_through_a_centre_crop(tmp_path):
    # a tall 4:5 "breast" filling its crop, with marker rows at the very top and bottom
    img = np.full((100, 80), 120, np.uint8)
    img[:4], img[-4:] = 250, 250
    cv2.imwrite(str(tmp_path / "x.png"), img)
    frame = pd.DataFrame({"path": [str(tmp_path / "x.png")]})
    transform = _open_clip_like(50)
    letterboxed, _ = HarmonizedImages(frame, transform, geometry="letterbox")[0]
    breast = letterboxed[0] > 0.2
    # the whole 100x80 breast survives, scaled by 1/2 into 50x40 (padding columns stay background)
    assert breast.sum() == pytest.approx(50 * 40, rel=0.05)
    assert letterboxed[0, :2].max() > 0.9 and letterboxed[0, -2:].max() > 0.9  # both marker rows kept
    # without the letterbox the centre crop cuts the top and bottom off (what open_clip alone does)
    cropped = transform(tf.to_pil_image(img).convert("RGB"))
    assert cropped[0, :2].max() < 0.9 and cropped[0, -2:].max() < 0.9


def test_squash_makes_the_whole_image_square_and_unknown_geometry_is_an_error(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.full((100, 80), 120, np.uint8))
    frame = pd.DataFrame({"path": [str(tmp_path / "x.png")]})
    squashed, _ = HarmonizedImages(frame, tf.to_tensor, geometry="squash")[0]
    assert squashed.shape == (3, 100, 100) and (squashed > 0.4).all()
    with pytest.raises(ValueError, match="unknown image geometry 'crop'"):
        HarmonizedImages(frame, tf.to_tensor, geometry="crop")

"""The scikit-learn digits set upscaled to MNIST's 28x28 layout (offline: sklearn ships it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGE_SIZE = 28
DIGIT_BOX = 20  # MNIST centres each digit in a 20x20 box inside the 28x28 frame
TEST_FRACTION = 0.2
SPLIT_SEED = 0


@dataclass(frozen=True)
class DigitsSplit:
    """Images as float32 (n, 1, 28, 28) in [0, 1] and integer labels (n,)."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def bilinear_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize (n, h, w) images to (n, size, size) with align-corners bilinear interpolation."""
    n, h, w = images.shape
    ys = np.linspace(0.0, h - 1, size)
    xs = np.linspace(0.0, w - 1, size)
    y0 = np.floor(ys).astype(int).clip(0, h - 2)
    x0 = np.floor(xs).astype(int).clip(0, w - 2)
    wy = (ys - y0)[None, :, None]
    wx = (xs - x0)[None, None, :]
    top = images[:, y0][:, :, x0] * (1 - wx) + images[:, y0][:, :, x0 + 1] * wx
    bottom = images[:, y0 + 1][:, :, x0] * (1 - wx) + images[:, y0 + 1][:, :, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


def upscale_digits(images8: np.ndarray) -> np.ndarray:
    """Map sklearn's (n, 8, 8) images in 0..16 to (n, 1, 28, 28) float32 in [0, 1]."""
    boxed = bilinear_resize(images8.astype(np.float64) / 16.0, DIGIT_BOX)
    pad = (IMAGE_SIZE - DIGIT_BOX) // 2
    framed = np.pad(boxed, ((0, 0), (pad, pad), (pad, pad)))
    return framed[:, None].astype(np.float32)


def load_digits_28() -> DigitsSplit:
    """The fixed train/test split (80/20, seed 0) of the upscaled digits set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = upscale_digits(digits.images)
    train_x, test_x, train_y, test_y = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    return DigitsSplit(train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64))

"""Image augmentation for both trainers (numpy/OpenCV, applied before the runtime pre-processing)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from gesture_ros.core.image import Image


def colour_jitter(img: Image, rng: np.random.Generator, strength: float = 1.0) -> Image:
    """Hue, saturation and brightness changes, sometimes grey: cameras and rooms differ."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    v = np.arange(256, dtype=np.float32)
    # per-channel look-up tables: the same maths as on float pixels, at uint8 speed
    luts = (
        (v + rng.uniform(-8, 8) * strength) % 180,
        v * (1 + rng.uniform(-0.35, 0.35) * strength),
        v * (1 + rng.uniform(-0.4, 0.4) * strength) + rng.uniform(-15, 15) * strength,
    )
    chans = [cv2.LUT(c, np.clip(t, 0, 255).astype(np.uint8)) for c, t in zip(cv2.split(hsv), luts, strict=True)]
    out = cv2.cvtColor(cv2.merge(chans), cv2.COLOR_HSV2BGR)
    if rng.random() < 0.1:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return out


def flip_boxes(boxes: npt.NDArray[np.float32], width: int) -> npt.NDArray[np.float32]:
    out = boxes.copy()
    out[:, 0] = width - boxes[:, 2]
    out[:, 2] = width - boxes[:, 0]
    return out


def rotate(img: Image, degrees: float) -> Image:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


#: the largest blur kernel as a fraction of the image width, unless an experiment sets its own
BLUR_MAX_KERNEL = 0.015


def blur(img: Image, rng: np.random.Generator, max_kernel: float = BLUR_MAX_KERNEL) -> Image:
    """Motion blur along a random direction (egocentric and robot cameras move) or a slight
    defocus; kernel sizes are relative to the image width (0.4 % up to ``max_kernel``)."""
    k = max(3, round(img.shape[1] * rng.uniform(0.004, max(0.004, max_kernel))) | 1)
    if rng.random() < 0.7:
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0
        m = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1.0)
        kernel = cv2.warpAffine(kernel, m, (k, k))
        return cv2.filter2D(img, -1, (kernel / max(float(kernel.sum()), 1e-6)).astype(np.float32))
    return cv2.GaussianBlur(img, (k, k), 0)

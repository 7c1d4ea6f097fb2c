"""Image augmentation for both trainers (numpy/OpenCV, applied before the runtime pre-processing)."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from gesture_ros.core.image import Image


def colour_jitter(img: Image, rng: np.random.Generator, strength: float = 1.0) -> Image:
    """Hue, saturation and brightness changes, sometimes grey: cameras and rooms differ."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8) * strength) % 180
    hsv[..., 1] *= 1 + rng.uniform(-0.35, 0.35) * strength
    hsv[..., 2] = hsv[..., 2] * (1 + rng.uniform(-0.4, 0.4) * strength) + rng.uniform(-15, 15) * strength
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
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

"""The benchmark's frames: the sample video and real hand images, at fixed sizes.

Only numpy and OpenCV (and the camera's list of image suffixes), so the MediaPipe worker (another
venv) loads exactly the same pixels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..core.sources import IMAGE_SUFFIXES

SIZES: dict[str, tuple[int, int]] = {"640x480": (640, 480), "1280x720": (1280, 720)}


def sources(video: Path, images: Path | None, n_images: int) -> list[str]:
    """The video, then up to ``n_images`` images of a folder (sorted, evenly spread)."""
    out = [str(video)]
    if images is not None and images.is_dir() and n_images > 0:
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        step = max(1, len(files) // n_images)
        out += [str(p) for p in files[::step][:n_images]]
    return out


def _fit(img: Any, size: tuple[int, int]) -> Any:
    if (img.shape[1], img.shape[0]) == size:
        return np.ascontiguousarray(img)
    interp = cv2.INTER_AREA if img.shape[1] > size[0] else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def clip(path: str, size: tuple[int, int], n: int | None = None) -> list[Any]:
    """The first ``n`` frames of a video at ``size`` (None: all of them); consecutive frames, as the
    speed modes need."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    frames: list[Any] = []
    while n is None or len(frames) < n:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(_fit(img, size))
    cap.release()
    return frames


def load(srcs: list[str], size: tuple[int, int]) -> list[Any]:
    """BGR uint8 frames at ``size`` (w, h): every frame of a video, one per image file."""
    frames: list[Any] = []
    for s in srcs:
        if Path(s).suffix.lower() in IMAGE_SUFFIXES:
            img = cv2.imread(s, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read image {s}")
            frames.append(_fit(img, size))
            continue
        frames += clip(s, size)
    return frames

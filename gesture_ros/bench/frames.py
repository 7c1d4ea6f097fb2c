"""The benchmark's frames: the sample video and real continuous clips, at fixed sizes.

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


#: real clips of ``../shared/videos`` with hands that enter, move, hold a gesture and leave
CLIPS = ("mpsamples__gesture_recognizer_test_video.mp4", "sam2__03_blocks.mp4")

#: one source of frames: a video or image file, and how many of its first frames (None: all)
Source = tuple[str, int | None]


def sources(video: Path, clips: Path | None, n_clip: int) -> list[Source]:
    """The sample video, then the first ``n_clip`` frames of each clip of :data:`CLIPS` found in
    ``clips``: one continuous stream with cuts between sources, as a camera that is moved gives.
    Still images are not in it: the speed modes carry boxes from frame to frame, so a set of
    unrelated photos would measure the cuts, not the pipeline."""
    out: list[Source] = [(str(video), None)]
    if clips is not None and n_clip > 0:
        out += [(str(clips / c), n_clip) for c in CLIPS if (clips / c).is_file()]
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


def load(srcs: list[Source], size: tuple[int, int]) -> list[Any]:
    """BGR uint8 frames at ``size`` (w, h): the first ``n`` frames of each video (all for None),
    one per image file."""
    frames: list[Any] = []
    for s, n in srcs:
        if Path(s).suffix.lower() in IMAGE_SUFFIXES:
            img = cv2.imread(s, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read image {s}")
            frames.append(_fit(img, size))
            continue
        frames += clip(s, size, n)
    return frames

"""Carrying hand boxes across the frames the detector skips (``detector.interval``).

DeepStream's nvinfer ``interval`` runs the detector on every (interval + 1)-th frame and lets a
KLT tracker move the boxes in between. This is that tracker, small: a grid of points inside each
box's core is followed with pyramidal Lucas-Kanade optical flow (OpenCV) on a grey, downscaled
copy of the frame, checked forwards and backwards; the box moves by the median displacement and
scales by the median change of the points' spread. A box whose points are mostly lost (the hand
left, was occluded, moved too fast) is reported lost, so the caller runs the detector at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .image import Image, PixelOrder


@dataclass(frozen=True)
class FlowConfig:
    """How boxes are followed between detections."""

    #: the frame is downscaled so its longer side is at most this (pixels); flow cost scales with it
    max_side: int = 320
    #: points per box side (a grid of n x n inside the box's central part)
    grid: int = 5
    #: fraction of the box the grid covers, around its centre (fingers move; the palm less)
    core: float = 0.6
    #: forward-backward error (downscaled pixels) above which a point is dropped
    max_fb_error: float = 1.0
    #: fraction of a box's points that must survive, or the box is lost
    min_kept: float = 0.5


def grey_small(
    image: Image,
    order: PixelOrder,
    max_side: int,
    out: npt.NDArray[np.uint8] | None = None,
    full: npt.NDArray[np.uint8] | None = None,
) -> tuple[npt.NDArray[np.uint8], float]:
    """A grey copy of the frame with its longer side at most ``max_side``, and the scale used.
    Written into ``out`` (and the full-size grey frame into ``full``) when they have the right
    shape, so a stream of frames allocates nothing per frame."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale))) if scale < 1.0 else (w, h)
    dst = out if out is not None and out.shape == (size[1], size[0]) else np.empty((size[1], size[0]), np.uint8)
    if order == "mono":
        grey = image.reshape(h, w)
    else:  # grey first: a third of the bytes to downscale (1.1 ms instead of 2.2 at 1280x720)
        code = cv2.COLOR_RGB2GRAY if order == "rgb" else cv2.COLOR_BGR2GRAY
        if scale >= 1.0:
            cv2.cvtColor(image, code, dst=dst)
            return dst, scale
        grey = full if full is not None and full.shape == (h, w) else np.empty((h, w), np.uint8)
        cv2.cvtColor(image, code, dst=grey)
    if scale < 1.0:
        cv2.resize(grey, size, dst=dst, interpolation=cv2.INTER_AREA)
    else:
        dst[...] = grey
    return dst, scale


def grid_points(box: npt.NDArray[np.float32], n: int, core: float) -> npt.NDArray[np.float32]:
    """``n`` x ``n`` points spread over the central ``core`` part of a box, shape (n*n, 1, 2)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = (box[2] - box[0]) * core / 2, (box[3] - box[1]) * core / 2
    xs = np.linspace(cx - hw, cx + hw, n, dtype=np.float32)
    ys = np.linspace(cy - hh, cy + hh, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).reshape(-1, 1, 2).astype(np.float32)


class BoxFlow:
    """Boxes of the last detection, moved frame by frame until the next one."""

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        self._prev: npt.NDArray[np.uint8] | None = None
        self._scale = 1.0
        # two small grey frames (the reference and the newest) and one full-size grey frame, bound once
        self._greys: list[npt.NDArray[np.uint8] | None] = [None, None]
        self._full: npt.NDArray[np.uint8] | None = None

    def _grey(self, image: Image, order: PixelOrder) -> tuple[npt.NDArray[np.uint8], float]:
        """The frame in grey, written into whichever buffer is not the reference."""
        i = 1 if self._prev is not None and self._prev is self._greys[0] else 0
        if order != "mono" and (self._full is None or self._full.shape != image.shape[:2]):
            self._full = np.empty(image.shape[:2], np.uint8)
        grey, scale = grey_small(image, order, self.config.max_side, self._greys[i], self._full)
        self._greys[i] = grey
        return grey, scale

    def reset(self, image: Image, order: PixelOrder) -> None:
        """The frame the detector just ran on: the reference for the next :meth:`move`."""
        self._prev, self._scale = self._grey(image, order)

    def move(
        self, image: Image, order: PixelOrder, boxes: npt.NDArray[np.float32]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        """``boxes`` (N, 4, frame pixels) moved from the reference frame to ``image`` and whether
        each is still followed; ``image`` becomes the reference."""
        cur, scale = self._grey(image, order)
        prev, self._prev = self._prev, cur
        n = len(boxes)
        out = np.array(boxes, np.float32).reshape(-1, 4)
        ok = np.zeros(n, bool)
        if prev is None or n == 0 or prev.shape != cur.shape:
            return out, ok
        cfg = self.config
        small = out * scale
        pts = np.concatenate([grid_points(b, cfg.grid, cfg.core) for b in small])
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, cur, pts, pts.copy(), winSize=(15, 15), maxLevel=2)
        back, st_b, _ = cv2.calcOpticalFlowPyrLK(cur, prev, nxt, pts.copy(), winSize=(15, 15), maxLevel=2)
        fb = np.linalg.norm((back - pts).reshape(-1, 2), axis=1)
        good = (st.ravel() == 1) & (st_b.ravel() == 1) & (fb <= cfg.max_fb_error)
        per = cfg.grid * cfg.grid
        for i in range(n):
            sl = slice(i * per, (i + 1) * per)
            keep = good[sl]
            if keep.sum() < max(2, cfg.min_kept * per):
                continue
            p0, p1 = pts[sl][keep].reshape(-1, 2), nxt[sl][keep].reshape(-1, 2)
            d = np.median(p1 - p0, axis=0)
            spread0 = np.linalg.norm(p0 - p0.mean(axis=0), axis=1)
            spread1 = np.linalg.norm(p1 - p1.mean(axis=0), axis=1)
            s = float(np.median(spread1[spread0 > 0] / spread0[spread0 > 0])) if (spread0 > 0).any() else 1.0
            s = float(np.clip(s, 0.8, 1.25))
            b = small[i]
            cx, cy = (b[0] + b[2]) / 2 + d[0], (b[1] + b[3]) / 2 + d[1]
            hw, hh = (b[2] - b[0]) * s / 2, (b[3] - b[1]) * s / 2
            out[i] = np.array([cx - hw, cy - hh, cx + hw, cy + hh], np.float32) / scale
            ok[i] = True
        self._scale = scale
        return out, ok

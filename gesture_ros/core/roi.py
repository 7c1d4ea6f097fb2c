"""ROI expansion for the gesture classifier, done right.

GestureNet was trained on crops with a wide margin around the hand. The original DeepStream
app's ``modify_meta`` computed the new width from the already-shifted left edge, so its crops were
lopsided and depended on where the hand was in the frame. Here the ROI is a square centred on
the detector box centre, enlarged by a ratio and a pixel margin on every side, clipped to the
frame, and dropped when the clipped region is smaller than ``min_size``. The detector's own box
is left untouched for display and for the message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: (rois (N, 4) x1,y1,x2,y2 in frame pixels, valid (N,))
Rois = tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class RoiConfig:
    """How a detector box becomes the region the classifier sees (``roi.*`` parameters)."""

    #: side = longer box side x ratio + 2 x margin_px (square) or each side scaled (not square)
    ratio: float = 1.6
    #: pixels added on every side, after the ratio
    margin_px: float = 0.0
    #: drop ROIs whose clipped width or height is below this many pixels
    min_size: float = 32.0
    #: square ROIs (GestureNet's training crops are square); False keeps the box aspect
    square: bool = True


def expand_rois(boxes: npt.ArrayLike, frame_w: int, frame_h: int, cfg: RoiConfig) -> Rois:
    """Return ``(rois (N,4), valid (N,))`` for ``(N,4)`` x1,y1,x2,y2 boxes in frame pixels."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite boxes (a bad message) end up invalid
        return _expand(b, frame_w, frame_h, cfg)


def _expand(b: npt.NDArray[np.float64], frame_w: int, frame_h: int, cfg: RoiConfig) -> Rois:
    cx = (b[:, 0] + b[:, 2]) / 2.0
    cy = (b[:, 1] + b[:, 3]) / 2.0
    w = np.clip(b[:, 2] - b[:, 0], 0, None)
    h = np.clip(b[:, 3] - b[:, 1], 0, None)
    if cfg.square:
        side = np.maximum(w, h) * cfg.ratio + 2.0 * cfg.margin_px
        half_w = half_h = side / 2.0
    else:
        half_w = (w * cfg.ratio + 2.0 * cfg.margin_px) / 2.0
        half_h = (h * cfg.ratio + 2.0 * cfg.margin_px) / 2.0
    rois = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    np.clip(rois[:, 0::2], 0, frame_w, out=rois[:, 0::2])
    np.clip(rois[:, 1::2], 0, frame_h, out=rois[:, 1::2])
    valid = ((rois[:, 2] - rois[:, 0]) >= max(cfg.min_size, 1e-6)) & (
        (rois[:, 3] - rois[:, 1]) >= max(cfg.min_size, 1e-6)
    )
    valid &= np.isfinite(rois).all(axis=1)
    return rois.astype(np.float32), valid


def pixel_region(roi: npt.ArrayLike) -> tuple[int, int, int, int]:
    """Integer pixel slice bounds (x1, y1, x2, y2) covering a float ROI: floor/ceil, never empty."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(roi).reshape(4))
    ix1, iy1 = int(np.floor(x1)), int(np.floor(y1))
    ix2, iy2 = max(int(np.ceil(x2)), ix1 + 1), max(int(np.ceil(y2)), iy1 + 1)
    return ix1, iy1, ix2, iy2


def check_received_roi(
    roi: npt.ArrayLike, frame_w: int, frame_h: int, min_size: float
) -> tuple[npt.NDArray[np.float32], str | None]:
    """A ROI that came from another node (a message), made safe to crop with, or why it is not.

    Anything may arrive on a topic: NaN, corners swapped, a region outside the frame or of another
    image size. Cropping such a ROI as it is fails (an empty slice) or, worse, silently reads
    wrapped-around pixels (negative indices). Returns the ROI clipped to the frame and None, or
    the unchanged ROI and the reason it cannot be used (the hand is then left unclassified).
    """
    r = np.asarray(roi, dtype=np.float64).reshape(4)
    if not np.isfinite(r).all():
        return r.astype(np.float32), f"ROI {r.tolist()} is not finite"
    if r[2] <= r[0] or r[3] <= r[1]:
        return r.astype(np.float32), f"ROI {r.tolist()} is empty or its corners are swapped"
    clipped = r.copy()
    np.clip(clipped[0::2], 0, frame_w, out=clipped[0::2])
    np.clip(clipped[1::2], 0, frame_h, out=clipped[1::2])
    side = max(min_size, 1.0)
    if clipped[2] - clipped[0] < side or clipped[3] - clipped[1] < side:
        return r.astype(
            np.float32
        ), f"ROI {r.tolist()} lies outside the {frame_w}x{frame_h} frame (less than {side:g} px inside)"
    return clipped.astype(np.float32), None

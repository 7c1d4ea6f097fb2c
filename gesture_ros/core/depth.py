"""Where a hand is in 3D: a robust depth over its box in an aligned depth image, deprojected
with the colour camera's intrinsics (pinhole model).

The box of an open hand holds background between the fingers, often more of it than hand. So
the depth is not the box's median: inside the box's central part (``core``), over valid pixels
only, the hand is the nearest layer: the pixels within ``thickness`` metres behind the
``near_percentile``-th percentile, and its depth is their median. A few flying pixels nearer than
the hand stay under the percentile; the background behind the fingers is outside the layer.

Conventions (RealSense, OAK, Azure Kinect): ``16UC1`` in millimetres or ``32FC1`` in metres, 0
or NaN where there is no depth, aligned to the colour image (same size, same intrinsics). The
position is in the colour image's optical frame (x right, y down, z forward, metres), so a
user's tf2 takes it to the robot's frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ImageFormatError

#: depth encodings and their scale to metres
DEPTH_ENCODINGS = {"16UC1": 0.001, "mono16": 0.001, "32FC1": 1.0}


@dataclass(frozen=True)
class DepthConfig:
    """How a hand's depth is read from its box (``depth.*``)."""

    #: central fraction of the box's width and height that is looked at
    core: float = 0.6
    #: the hand's nearest part: this percentile of the valid depths in the core
    near_percentile: float = 20.0
    #: metres behind the nearest part that still count as the hand
    thickness: float = 0.15
    #: fraction of the core's pixels that must have a valid depth
    min_valid: float = 0.05
    #: depths outside [min_depth, max_depth] metres are invalid
    min_depth: float = 0.1
    max_depth: float = 10.0

    def __post_init__(self) -> None:
        if not 0.0 < self.core <= 1.0:
            raise ValueError("depth core must be in (0, 1]")
        if not 0.0 <= self.near_percentile <= 100.0:
            raise ValueError("depth near percentile must be in [0, 100]")
        if self.min_depth >= self.max_depth:
            raise ValueError("depth min_depth must be < max_depth")


@dataclass(frozen=True)
class Intrinsics:
    """The pinhole part of a CameraInfo: ``K = [fx 0 cx; 0 fy cy; 0 0 1]`` for an image of
    ``width`` x ``height``."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k: npt.ArrayLike, width: int, height: int) -> Intrinsics:
        """From CameraInfo's row-major ``k`` (9 values); ImageFormatError when it is unusable."""
        m = np.asarray(k, dtype=np.float64).reshape(-1)
        if m.size != 9 or not np.all(np.isfinite(m)) or m[0] <= 0 or m[4] <= 0:
            raise ImageFormatError(f"CameraInfo has no usable K (fx, fy > 0): {m.tolist()}")
        return cls(float(m[0]), float(m[4]), float(m[2]), float(m[5]), int(width), int(height))

    def deproject(self, u: float, v: float, z: float) -> tuple[float, float, float]:
        """The point at pixel (u, v) and depth z, in the optical frame (metres)."""
        return ((u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z)


def depth_metres(data: Any, encoding: str, width: int, height: int, step: int) -> npt.NDArray[np.float32]:
    """A depth image message's pixels in metres (NaN where there is no depth)."""
    scale = DEPTH_ENCODINGS.get(encoding)
    if scale is None:
        raise ImageFormatError(f"depth encoding {encoding!r} is not one of {', '.join(DEPTH_ENCODINGS)}")
    dtype = np.dtype(np.float32 if encoding == "32FC1" else np.uint16)
    # a message's data: bytes, an array.array or a numpy array; no copy
    buf = data.view(np.uint8).reshape(-1) if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    if width <= 0 or height <= 0 or step < width * dtype.itemsize or buf.size < step * height:
        raise ImageFormatError(f"depth image {width}x{height} step {step} does not fit its {buf.size} bytes")
    rows = buf[: step * height].reshape(height, step)[:, : width * dtype.itemsize]
    raw = np.ascontiguousarray(rows).view(dtype).reshape(height, width)
    out = raw.astype(np.float32) * np.float32(scale)
    if dtype == np.uint16:
        out[raw == 0] = np.nan
    return out


def hand_depth(depth: npt.NDArray[np.float32], box: npt.ArrayLike, cfg: DepthConfig) -> tuple[float | None, str]:
    """The hand's depth in metres inside ``box`` (x1, y1, x2, y2 pixels), or None and why."""
    h, w = depth.shape
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    cx, cy, half_w, half_h = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) * cfg.core / 2, (y2 - y1) * cfg.core / 2
    c1, c2 = int(np.clip(np.floor(cx - half_w), 0, w)), int(np.clip(np.ceil(cx + half_w), 0, w))
    r1, r2 = int(np.clip(np.floor(cy - half_h), 0, h)), int(np.clip(np.ceil(cy + half_h), 0, h))
    patch = depth[r1:r2, c1:c2]
    if patch.size == 0:
        return None, "the box is outside the depth image"
    valid = patch[np.isfinite(patch) & (patch >= cfg.min_depth) & (patch <= cfg.max_depth)]
    if valid.size < max(1, cfg.min_valid * patch.size):
        return None, (
            f"no usable depth in the hand's box (under {cfg.min_valid:.0%} of its pixels within "
            f"{cfg.min_depth}-{cfg.max_depth} m)"
        )
    near = float(np.percentile(valid, cfg.near_percentile))
    layer = valid[valid <= near + cfg.thickness]
    return float(np.median(layer)), ""


def hand_position(
    depth: npt.NDArray[np.float32], box: npt.ArrayLike, k: Intrinsics, cfg: DepthConfig
) -> tuple[tuple[float, float, float] | None, str]:
    """The hand's position (x, y, z metres, optical frame) at its box centre, or None and why."""
    z, why = hand_depth(depth, box, cfg)
    if z is None:
        return None, why
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    return k.deproject((x1 + x2) / 2, (y1 + y2) / 2, z), ""


def check_aligned(depth_size: tuple[int, int], colour_size: tuple[int, int], k: Intrinsics | None) -> str:
    """Why a depth image and intrinsics cannot be used with a colour image ("" when they can).
    Sizes are (width, height)."""
    if k is None:
        return "no CameraInfo received (depth needs the colour camera's intrinsics)"
    if depth_size != colour_size:
        return (
            f"the depth image is {depth_size[0]}x{depth_size[1]}, the colour image {colour_size[0]}x{colour_size[1]}: "
            "depth must be aligned to colour (e.g. RealSense aligned_depth_to_color)"
        )
    if (k.width, k.height) != colour_size:
        return f"CameraInfo is for {k.width}x{k.height}, the colour image is {colour_size[0]}x{colour_size[1]}"
    return ""

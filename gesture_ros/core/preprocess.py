"""Resize + pad + colour order + normalisation into a preallocated NCHW float32 tensor.

One pass per image, written straight into the batch slot the backend will read, and a
:class:`Letterbox` record that maps boxes back to source pixels (undoing resize and padding).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .image import Image, PixelOrder
from .model_spec import TensorInput

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Letterbox:
    """How a source region was placed into the network input.

    network = (source - origin) * scale + pad, per axis.
    """

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    origin_x: float
    origin_y: float
    src_w: int
    src_h: int

    def to_source(self, boxes: npt.NDArray[np.floating]) -> FloatArray:
        """Map ``(N, 4)`` x1,y1,x2,y2 boxes from network input pixels to source pixels, clipped."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        out = np.empty_like(b)
        out[:, 0::2] = (b[:, 0::2] - self.pad_x) / self.scale_x + self.origin_x
        out[:, 1::2] = (b[:, 1::2] - self.pad_y) / self.scale_y + self.origin_y
        np.clip(out[:, 0::2], self.origin_x, self.origin_x + self.src_w, out=out[:, 0::2])
        np.clip(out[:, 1::2], self.origin_y, self.origin_y + self.src_h, out=out[:, 1::2])
        return out


def resize_filter(spec: TensorInput, src_w: int, new_w: int) -> int:
    """The OpenCV interpolation for scaling a ``src_w``-wide image to ``new_w``: the input's
    configured downscaling filter, bilinear when enlarging."""
    return cv2.INTER_AREA if new_w < src_w and spec.resize == "area" else cv2.INTER_LINEAR


def plan_letterbox(
    src_w: int, src_h: int, spec: TensorInput, origin: tuple[float, float] = (0.0, 0.0)
) -> tuple[Letterbox, int, int, int, int]:
    """Return the letterbox and the resized size / offset (new_w, new_h, x0, y0) in the input."""
    if spec.pad == "stretch":
        sx, sy = spec.width / src_w, spec.height / src_h
        return Letterbox(sx, sy, 0.0, 0.0, origin[0], origin[1], src_w, src_h), spec.width, spec.height, 0, 0
    s = min(spec.width / src_w, spec.height / src_h)
    new_w = max(1, min(spec.width, round(src_w * s)))
    new_h = max(1, min(spec.height, round(src_h * s)))
    if spec.pad == "symmetric":
        x0, y0 = (spec.width - new_w) // 2, (spec.height - new_h) // 2
    else:
        x0, y0 = 0, 0
    sx, sy = new_w / src_w, new_h / src_h
    return Letterbox(sx, sy, float(x0), float(y0), origin[0], origin[1], src_w, src_h), new_w, new_h, x0, y0


class Preprocessor:
    """Fills batch slots of one preallocated input tensor for a model input description."""

    def __init__(self, spec: TensorInput, max_batch: int = 1) -> None:
        self.spec = spec
        self.max_batch = max_batch
        self.tensor: FloatArray = np.zeros((max_batch, 3, spec.height, spec.width), dtype=np.float32)
        # resized pixels land here (3 channels, or 1 for mono sources): no per-frame image buffers
        self._canvas: Image = np.zeros((spec.height, spec.width, 3), dtype=np.uint8)
        self._canvas_mono: Image = np.zeros((spec.height, spec.width), dtype=np.uint8)
        norm = spec.normalisation
        self._mean = np.asarray(norm.mean, dtype=np.float32).reshape(-1, 1, 1)
        self._scale = np.asarray(norm.scale, dtype=np.float32).reshape(-1, 1, 1)
        self._zero_mean = not np.any(self._mean)
        #: slot -> (x0, y0, w, h) of the image inside it when last filled: the padding around it is
        #: already in the tensor when the next image lands in the same place (every video frame)
        self._plans: dict[int, tuple[int, int, int, int]] = {}

    def ensure_batch(self, n: int) -> None:
        """Grow the tensor when more crops than ever before arrive (rare: amortised)."""
        if n > self.max_batch:
            self.max_batch = max(n, 2 * self.max_batch)
            self.tensor = np.zeros((self.max_batch, 3, self.spec.height, self.spec.width), dtype=np.float32)
            self._plans.clear()

    def fill(
        self,
        slot: int,
        image: Image,
        order: PixelOrder,
        region: tuple[int, int, int, int] | None = None,
    ) -> Letterbox:
        """Write ``image`` (or the integer pixel ``region`` x1,y1,x2,y2 of it) into batch ``slot``.

        One resize straight into a preallocated canvas, then one normalising pass over the image's
        pixels in the tensor (the padding is only rewritten when it moves): the source is never
        copied (alpha is a view, mono stays one channel).
        """
        mono = order == "mono"
        src = image.reshape(image.shape[0], image.shape[1]) if mono else image[..., :3]
        ox, oy = 0, 0
        if region is not None:
            x1, y1, x2, y2 = region
            src = src[y1:y2, x1:x2]
            ox, oy = x1, y1
        src_h, src_w = src.shape[:2]
        lb, new_w, new_h, x0, y0 = plan_letterbox(src_w, src_h, self.spec, (float(ox), float(oy)))
        canvas = self._canvas_mono if mono else self._canvas
        dst = canvas[:new_h, :new_w]
        if (new_w, new_h) == (src_w, src_h):
            dst[...] = src
        else:
            cv2.resize(src, (new_w, new_h), dst=dst, interpolation=resize_filter(self.spec, src_w, new_w))
        out = self.tensor[slot]
        plan = (x0, y0, new_w, new_h)
        if self._plans.get(slot) != plan:  # the padding changed: write it (value of a 0 pixel)
            out[...] = -self._mean * self._scale
            self._plans[slot] = plan
        out = out[:, y0 : y0 + new_h, x0 : x0 + new_w]  # only the image's pixels are rewritten
        if mono:
            chw = np.broadcast_to(dst, out.shape)
        else:
            swap = (order == "rgb") != (self.spec.color == "rgb")
            chw = dst.transpose(2, 0, 1)[::-1] if swap else dst.transpose(2, 0, 1)
        if self._zero_mean:
            np.multiply(chw, self._scale, out=out, dtype=np.float32)
        else:
            np.subtract(chw, self._mean, out=out, dtype=np.float32)
            np.multiply(out, self._scale, out=out)
        return lb

    def batch(self, n: int) -> FloatArray:
        """The first ``n`` slots, as the backend's input (a view, no copy)."""
        return self.tensor[:n]

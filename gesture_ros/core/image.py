"""Zero-copy interpretation of ``sensor_msgs/Image`` buffers as numpy arrays.

Python ROS pipelines lose much of their time copying images; these functions only build views
onto the message buffer (respecting ``step`` row padding) and reject anything inconsistent with
one :class:`ImageFormatError` that names the problem.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .errors import ImageFormatError

PixelOrder = Literal["rgb", "bgr", "mono"]

#: encoding -> (channels, pixel order of the first three channels)
ENCODINGS: dict[str, tuple[int, PixelOrder]] = {
    "bgr8": (3, "bgr"),
    "rgb8": (3, "rgb"),
    "bgra8": (4, "bgr"),
    "rgba8": (4, "rgb"),
    "mono8": (1, "mono"),
}

SUPPORTED = ", ".join(ENCODINGS)

#: HxWxC uint8 image (typed loosely: OpenCV's stubs return untyped arrays)
Image = npt.NDArray[Any]


def image_view(encoding: str, height: int, width: int, step: int, data: object) -> tuple[Image, PixelOrder]:
    """Return an ``HxWxC`` uint8 view onto ``data`` and its pixel order, without copying.

    ``data`` is anything exposing the buffer protocol (``bytes``, ``array.array('B')`` as rclpy
    gives, a numpy array). Alpha channels are kept in the view; consumers use ``[..., :3]``.
    """
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported image encoding '{encoding}' (supported: {SUPPORTED})")
    channels, order = ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageFormatError(f"image has no pixels: width={width} height={height}")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageFormatError(
            f"image step {step} is smaller than width x channels = {width} x {channels} = {row_bytes}"
        )
    try:
        buf = np.frombuffer(data, dtype=np.uint8)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ImageFormatError(f"image data is not a byte buffer: {exc}") from None
    expected = step * height
    if buf.size != expected:
        raise ImageFormatError(
            f"image data has {buf.size} bytes, expected step x height = {step} x {height} = {expected}"
        )
    view = buf.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    return view, order


def as_three_channel(image: Image, order: PixelOrder) -> tuple[Image, Literal["rgb", "bgr"]]:
    """Drop alpha (a view) or expand mono to three channels (the only case that copies)."""
    if order == "mono":
        return np.repeat(image.reshape(image.shape[0], image.shape[1], 1), 3, axis=2), "rgb"
    return image[..., :3], order


def decode_compressed(data: object) -> tuple[Image, PixelOrder]:
    """Decode a ``sensor_msgs/CompressedImage`` payload (JPEG/PNG) to a BGR array."""
    import cv2

    buf = np.frombuffer(data, dtype=np.uint8)  # type: ignore[call-overload]
    if buf.size == 0:
        raise ImageFormatError("compressed image is empty")
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise ImageFormatError(f"compressed image ({buf.size} bytes) could not be decoded as JPEG or PNG")
    return img, "bgr"

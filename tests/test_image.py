import array

import numpy as np
import pytest

from gesture_ros.core.errors import ImageFormatError
from gesture_ros.core.image import ENCODINGS, as_three_channel, decode_compressed, image_view


def _buffer(h: int, w: int, c: int, pad: int, seed: int = 0) -> tuple[np.ndarray, array.array, int]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
    step = w * c + pad
    rows = np.zeros((h, step), np.uint8)
    rows[:, : w * c] = img.reshape(h, w * c)
    rows[:, w * c :] = 77  # padding bytes must never show up in the view
    return img, array.array("B", rows.tobytes()), step


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 3])
def test_every_encoding_is_a_zero_copy_view_respecting_step(encoding: str, pad: int) -> None:
    c, order = ENCODINGS[encoding]
    img, buf, step = _buffer(5, 7, c, pad)
    view, got_order = image_view(encoding, 5, 7, step, buf)
    assert got_order == order
    assert view.shape == (5, 7, c)
    np.testing.assert_array_equal(view, img)
    assert np.shares_memory(view, np.frombuffer(buf, np.uint8))


def test_three_channel_drops_alpha_without_copy_and_expands_mono() -> None:
    _img, buf, step = _buffer(4, 6, 4, 0)
    view, order = image_view("rgba8", 4, 6, step, buf)
    three, o3 = as_three_channel(view, order)
    assert o3 == "rgb" and three.shape == (4, 6, 3) and np.shares_memory(three, view)
    mono, mbuf, mstep = _buffer(4, 6, 1, 2)
    mview, morder = image_view("mono8", 4, 6, mstep, mbuf)
    m3, _ = as_three_channel(mview, morder)
    for ch in range(3):
        np.testing.assert_array_equal(m3[..., ch], mono[..., 0])


@pytest.mark.parametrize("encoding", ["16UC1", "mono16", "32FC1", "yuv422", "bayer_rggb8", "", "BGR8"])
def test_unsupported_encodings_name_the_encoding_and_the_supported_ones(encoding: str) -> None:
    with pytest.raises(ImageFormatError, match="unsupported image encoding") as exc:
        image_view(encoding, 2, 2, 8, bytes(16))
    assert "bgr8" in str(exc.value)


@pytest.mark.parametrize(
    ("h", "w", "step", "n", "match"),
    [
        (0, 4, 12, 0, "no pixels"),
        (4, 0, 0, 0, "no pixels"),
        (2, 4, 11, 22, "step 11 is smaller"),
        (2, 4, 12, 23, "23 bytes, expected"),
        (2, 4, 12, 25, "25 bytes, expected"),
    ],
)
def test_inconsistent_sizes_are_rejected(h: int, w: int, step: int, n: int, match: str) -> None:
    with pytest.raises(ImageFormatError, match=match):
        image_view("bgr8", h, w, step, bytes(n))


def test_compressed_roundtrip_and_garbage() -> None:
    import cv2

    img = np.zeros((20, 30, 3), np.uint8)
    img[:, :15] = (255, 0, 0)
    ok, png = cv2.imencode(".png", img)
    assert ok
    out, order = decode_compressed(png.tobytes())
    assert order == "bgr"
    np.testing.assert_array_equal(out, img)
    with pytest.raises(ImageFormatError, match="could not be decoded"):
        decode_compressed(b"not an image at all")
    with pytest.raises(ImageFormatError, match="empty"):
        decode_compressed(b"")

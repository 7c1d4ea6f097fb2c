"""Detector augmentation keeps boxes on their hands; EMA weights are what they claim to be."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gesture_ros.datasets import DetSample, load_detection_set  # noqa: E402
from gesture_ros.training.augment import blur  # noqa: E402
from gesture_ros.training.loop import EmaWeights  # noqa: E402
from gesture_ros.training.train_detector import DetectorData  # noqa: E402

MAGENTA = np.array([255, 0, 255], np.uint8)


def _painted_samples(shared_data: Path, tmp_path: Path, n: int = 6) -> list[DetSample]:
    """Real frames whose labelled hands are painted magenta: a box that lands anywhere but on
    its hand after augmentation shows up as non-magenta pixels."""
    out = []
    for s in [s for s in load_detection_set(shared_data / "hands_detect") if len(s.boxes)][::40][:n]:
        img = cv2.imread(str(s.image))
        img[np.all(img == MAGENTA, axis=2)] = 0
        for x1, y1, x2, y2 in s.boxes.round().astype(int):
            img[y1:y2, x1:x2] = MAGENTA
        path = tmp_path / s.image.name.replace(".jpg", ".png")
        cv2.imwrite(str(path), img)
        out.append(DetSample(path, s.boxes.round(), s.labels, s.scene))
    return out


def _painted_and_labelled(canvas: np.ndarray, boxes: np.ndarray) -> tuple[int, int]:
    """Magenta (painted hand) pixels of an augmented image, and how many of them lie in a box;
    every box must sit on a painted hand."""
    magenta = np.all(np.abs(canvas.astype(int) - MAGENTA) < 40, axis=2)
    covered = np.zeros_like(magenta)
    for x1, y1, x2, y2 in boxes:
        inner = magenta[int(np.ceil(y1)) + 1 : int(y2) - 1, int(np.ceil(x1)) + 1 : int(x2) - 1]
        assert inner.size == 0 or inner.mean() > 0.95, "a box is off its hand"
        covered[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))] = True
    return int(magenta.sum()), int(magenta[covered].sum())


def test_mosaic_boxes_cover_their_hands(shared_data: Path, tmp_path: Path, models) -> None:
    data = DetectorData(
        _painted_samples(shared_data, tmp_path), models.detector, models.detector.labels, 1024, mosaic=1.0
    )
    rng = np.random.default_rng(0)
    painted = labelled = 0
    for i in range(12):
        canvas, boxes, cls = data.mosaic_of(i % len(data), rng)
        assert canvas.shape == (2 * models.detector.input.height, 2 * models.detector.input.width, 3)
        assert len(boxes) == len(cls) and len(boxes) > 0
        p, lab = _painted_and_labelled(canvas, boxes)
        painted, labelled = painted + p, labelled + lab
    # hands left unlabelled are only the ones mostly cut off by their tile (< 1/4 visible)
    assert labelled >= 0.7 * painted


def test_zoom_out_boxes_cover_their_hands_on_a_real_canvas(shared_data: Path, tmp_path: Path, models) -> None:
    """A frame shrunk onto another: its boxes shrink with it onto its painted hands, the canvas
    frame's hands keep a box on their visible part, and painted hands left without a box are
    only slivers (cut by the canvas crop or hidden behind the pasted frame)."""
    data = DetectorData(
        _painted_samples(shared_data, tmp_path), models.detector, models.detector.labels, 1024, zoom_out=2.5
    )
    rng = np.random.default_rng(0)
    painted = labelled = shrunk = 0
    for n in range(16):
        i = n % len(data)
        canvas, boxes, cls = data.zoomed_out(i, rng)
        w, h = models.detector.input.width, models.detector.input.height
        assert canvas.shape[1] <= 2 * w + 1 and canvas.shape[0] <= 2 * h + 1  # the runtime resize comes after
        own = data.boxes[i]
        assert len(boxes) == len(cls) and len(boxes) >= len(own)
        p, lab = _painted_and_labelled(canvas, boxes)
        painted, labelled = painted + p, labelled + lab
        # the frame's own hands come first, all shrunk by one factor: the canvas is 1 to 2.5 times
        # the pasted frame
        k = (boxes[: len(own), 2] - boxes[: len(own), 0]) / (own[:, 2] - own[:, 0])
        canvas_k = canvas.shape[1] / data.images[i].shape[1]
        shrunk += bool(np.ptp(k) < 0.02 * k.max() and canvas_k / 2.5 - 0.01 <= k.mean() <= canvas_k + 0.01)
    assert labelled >= 0.8 * painted
    assert shrunk == 16


def test_item_with_mosaic_and_blur_feeds_the_network_shapes(shared_data: Path, models) -> None:
    samples = [s for s in load_detection_set(shared_data / "hands_detect") if len(s.boxes)][:4]
    data = DetectorData(samples, models.detector, models.detector.labels, 1024, mosaic=1.0, blur=1.0)
    x, cov, bbox = data.item(0, np.random.default_rng(1), 0.5)
    gh, gw = models.detector.grid
    assert x.shape == (3, models.detector.input.height, models.detector.input.width)
    assert cov.shape == (1, gh, gw) and bbox.shape == (4, gh, gw) and cov.sum() > 0


def test_blur_smooths_edges_and_keeps_the_image_format(shared_data: Path) -> None:
    img = cv2.imread(str(next((shared_data / "hands_detect" / "images").glob("*.jpg"))))
    rng = np.random.default_rng(0)
    for _ in range(5):
        out = blur(img, rng)
        assert out.shape == img.shape and out.dtype == np.uint8
        assert np.abs(cv2.Laplacian(out, cv2.CV_32F)).mean() < 0.8 * np.abs(cv2.Laplacian(img, cv2.CV_32F)).mean()
    # a larger largest kernel blurs more (same random draws: kernel sizes scale with it)
    sharp = [np.abs(cv2.Laplacian(blur(img, np.random.default_rng(i)), cv2.CV_32F)).mean() for i in range(6)]
    soft = [np.abs(cv2.Laplacian(blur(img, np.random.default_rng(i), 0.05), cv2.CV_32F)).mean() for i in range(6)]
    assert all(b < a for a, b in zip(sharp, soft, strict=True))


def test_ema_averages_weights_and_swaps_them_in() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    ema = EmaWeights(model, 0.9)
    start = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
    for _ in range(200):
        ema.update(model)
    # the warm-up decay (1 + n) / (10 + n) and then 0.9 pull the average onto constant weights
    torch.testing.assert_close(ema.shadow["0.weight"], start + 1.0, atol=1e-4, rtol=0)
    assert ema.shadow["1.num_batches_tracked"].dtype == torch.int64
    ema = EmaWeights(model, 0.9)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    ema.update(model)  # first update: decay 2/11
    torch.testing.assert_close(ema.shadow["0.weight"], start + 1.0 + 9 / 11, atol=1e-6, rtol=0)
    last = ema.swap_into(model)
    torch.testing.assert_close(last["0.weight"], start + 2.0)
    torch.testing.assert_close(model[0].weight.detach(), start + 1.0 + 9 / 11, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="decay"):
        EmaWeights(model, 1.0)

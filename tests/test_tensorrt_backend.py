"""The TensorRT backend against a FAKE TensorRT/CUDA (see fake_tensorrt.py): binding logic only.
Real TensorRT engines were not run on this project's machines (no GPU, TensorRT not installable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fake_tensorrt import make_engine_file

from gesture_ros.backends import create_backend
from gesture_ros.core.detectnet import ClusterConfig
from gesture_ros.core.errors import ModelError
from gesture_ros.core.pipeline import GestureClassifier, HandDetector


def test_tensorrt_backend_matches_onnxruntime(tmp_path: Path, synthetic, models, fake_trt) -> None:
    engine = tmp_path / "detector.engine"
    make_engine_file(engine, synthetic["detector"])
    trt_det = HandDetector(models.detector, create_backend("tensorrt", engine), ClusterConfig())
    ort_det = HandDetector(models.detector, create_backend("onnxruntime", synthetic["detector"]), ClusterConfig())
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:220, 200:320] = 255
    a, b = trt_det.detect(img, "bgr"), ort_det.detect(img, "bgr")
    assert len(a) == 1
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)

    cls_engine = tmp_path / "classifier.engine"
    make_engine_file(cls_engine, synthetic["classifier"], max_batch=2)
    backend = create_backend("tensorrt", cls_engine)
    cls = GestureClassifier(models.classifier, backend)
    rois = np.array([[0, 0, 100, 100], [100, 0, 200, 100]], np.float32)
    res = cls.classify(np.full((100, 200, 3), 200, np.uint8), "bgr", rois)
    assert len(res) == 2 and all(r is not None for r in res)
    # more hands than the engine's profile allows: one clear error
    with pytest.raises(ModelError, match="outside the engine's profile"):
        cls.classify(np.full((100, 300, 3), 200, np.uint8), "bgr", np.array([[0, 0, 100, 100]] * 3, np.float32))
    assert len(fake_trt.buffers) > 0
    backend.close()
    trt_det.backend.close()
    assert len(fake_trt.buffers) == 0  # every device buffer released


def test_an_engine_of_one_input_size_is_not_sent_other_sizes(tmp_path: Path, models, fake_trt) -> None:
    """The shipped ONNX leaves the input's height and width open (``detector.fit_input``); an
    engine built from it with one size (min = max, as ``gesture-train engines`` does) reports that
    size, so the detector letterboxes a 640x480 frame into it instead of sending 384x288."""
    from gesture_ros import paths

    engine = tmp_path / "detector.engine"
    onnx = paths.resolve(models.detector.file)
    make_engine_file(engine, onnx, max_batch=2, size=(models.detector.input.height, models.detector.input.width))
    backend = create_backend("tensorrt", engine)
    assert backend.inputs[0].shape == (-1, 3, models.detector.input.height, models.detector.input.width)
    trt_det = HandDetector(models.detector, backend, ClusterConfig())
    ort_det = HandDetector(models.detector, create_backend("onnxruntime", onnx), ClusterConfig())
    assert not trt_det.any_size and ort_det.any_size
    assert trt_det.input_size(640, 480) == (512, 288) and ort_det.input_size(640, 480) == (384, 288)
    img = np.zeros((480, 640, 3), np.uint8)
    img[100:220, 200:320] = 255
    trt_det.detect(img, "bgr")  # accepted: the engine's own size
    backend.close()


def test_corrupt_engine_is_one_clear_error(tmp_path: Path, fake_trt) -> None:
    bad = tmp_path / "bad.engine"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="corrupt, or built for another GPU / TensorRT version"):
        create_backend("tensorrt", bad)
    with pytest.raises(ModelError, match="TensorRT engine not found"):
        create_backend("tensorrt", tmp_path / "missing.engine")

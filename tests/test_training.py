"""Each training step on a tiny real subset of ../shared/data: real files in, real artefacts out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from gesture_ros.core.detectnet import ClusterConfig
from gesture_ros.core.roi import RoiConfig

torch = pytest.importorskip("torch")

from training.publish import publish  # noqa: E402
from training.train_classifier import ClassifierTrainConfig, train_classifier  # noqa: E402
from training.train_detector import DetectorTrainConfig, load_matching, train_detector  # noqa: E402


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory: pytest.TempPathFactory, models, shared_data: Path) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("det_run")
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(out), width=0.125, epochs=1, batch=4, limit=8,
                              val_scenes=[])  # fmt: skip
    return out, train_detector(cfg, models.detector, ClusterConfig(), log=lambda _: None)


def test_detector_step_writes_a_runtime_compatible_onnx(detector_run, models) -> None:
    out, metrics = detector_run
    model = onnx.load(str(out / "hand_detector.onnx"))
    assert [i.name for i in model.graph.input] == ["input_1"]
    assert [o.name for o in model.graph.output] == ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # dynamic batch
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["epochs"] == 1 and len(saved["history"]) == 1 and np.isfinite(saved["history"][0]["loss"])
    # the runtime accepts it: HandDetector checks names and shapes against config/models.yaml
    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import HandDetector

    HandDetector(models.detector, create_backend("onnxruntime", out / "hand_detector.onnx"), ClusterConfig())


def test_init_from_copies_matching_tensors_only(detector_run) -> None:
    from training.models import DetectNetV2

    out, _ = detector_run
    same = DetectNetV2(1, 18, 0.125)
    n_tensors = len(same.state_dict())
    assert load_matching(same, out / "detector.pt") == n_tensors
    saved = torch.load(out / "detector.pt", weights_only=True)["state_dict"]
    assert torch.equal(same.state_dict()["cov.weight"], saved["cov.weight"])
    two_classes = DetectNetV2(2, 18, 0.125)  # new head: everything but the head is copied
    assert load_matching(two_classes, out / "detector.pt") == n_tensors - 4


def test_classifier_step_and_publish(tmp_path: Path, models, shared_data: Path, detector_run) -> None:
    cfg = ClassifierTrainConfig(data=str(shared_data), out=str(tmp_path / "cls"), width=0.25, epochs=1, batch=8, limit_per_class=4)
    metrics = train_classifier(cfg, models.classifier, RoiConfig(), log=lambda _: None)
    model = onnx.load(str(tmp_path / "cls" / "gesture_classifier.onnx"))
    assert [o.name for o in model.graph.output] == ["activation_18"]
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    assert metrics["val"]["samples"] > 0 and 0.0 <= metrics["val"]["accuracy"] <= 1.0
    assert len(metrics["val"]["confusion"]) == 6
    published = publish(detector_run[0], tmp_path / "cls", tmp_path / "models")
    assert (tmp_path / "models" / "hand_detector.onnx").read_bytes() == (detector_run[0] / "hand_detector.onnx").read_bytes()
    assert published["classifier"]["file"] == "gesture_classifier.onnx" and len(published["detector"]["sha256"]) == 64
    assert "history" not in published["detector"]

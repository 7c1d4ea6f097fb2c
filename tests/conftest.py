"""Shared fixtures: the model descriptions from config/, synthetic ONNX models, the shared data."""

from __future__ import annotations

import os
import random
import sys
import types
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every test run gets its own DDS domain, localhost-only discovery, logs inside build/.
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(101, 200)))
os.environ.setdefault("ROS_LOCALHOST_ONLY", "1")
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_LOG_DIR", str(ROOT / "build" / "ros_log"))
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_shm.xml"))

from synthetic_models import classifier_model, detector_model  # noqa: E402

from gesture_ros.core.model_spec import ModelsConfig, load_models  # noqa: E402


@pytest.fixture(scope="session")
def models() -> ModelsConfig:
    return load_models(ROOT / "config" / "models.yaml")


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory, models: ModelsConfig) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("synthetic_models")
    return {
        "detector": detector_model(models.detector, d / "detector.onnx"),
        "classifier": classifier_model(models.classifier, d / "classifier.onnx"),
    }


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data is not present beside the checkout")
    return data


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """FAKE tensorrt + cuda-python modules in sys.modules (see fake_tensorrt.py)."""
    from fake_tensorrt import cuda_module, tensorrt_module

    cuda = cuda_module()
    pkg = types.ModuleType("cuda")
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = cuda  # type: ignore[attr-defined]
    pkg.bindings = bindings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", tensorrt_module())
    monkeypatch.setitem(sys.modules, "cuda", pkg)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cuda)
    return cuda


@pytest.fixture(scope="module")
def reference(models: ModelsConfig, synthetic: dict[str, Path]) -> Any:
    """The in-process core pipeline on the synthetic models with the default parameters: what
    every node over DDS must reproduce."""
    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import GestureClassifier, GesturePipeline, HandDetector
    from gesture_ros.factory import parameter_values
    from gesture_ros.settings import CLUSTERING, ROI

    values = parameter_values(None)
    det = HandDetector(models.detector, create_backend("onnxruntime", synthetic["detector"]), CLUSTERING.build(values))
    cls = GestureClassifier(models.classifier, create_backend("onnxruntime", synthetic["classifier"]))
    return GesturePipeline(det, cls, ROI.build(values))

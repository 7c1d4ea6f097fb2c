"""Building the core stages from a node's parameters, with one clear error on failure."""

from __future__ import annotations

from ..backends.base import InferenceBackend, create_backend
from ..core.model_spec import ModelsConfig, with_file
from ..core.pipeline import GestureClassifier, HandDetector
from ..core.tracking import Debouncer, IouTracker
from ..settings import cluster_config
from .base import BaseNode


def build_detector(node: BaseNode, models: ModelsConfig) -> HandDetector:
    v = node.values
    path = node.model_path("detector.model", models.detector.file)
    backend: InferenceBackend = create_backend(v["detector.backend"], path, threads=int(v["detector.threads"]))
    det = HandDetector(with_file(models.detector, path), backend, cluster_config(v))
    node.get_logger().info(f"hand detector: {v['detector.backend']} {path}")
    return det


def build_classifier(node: BaseNode, models: ModelsConfig) -> GestureClassifier:
    v = node.values
    path = node.model_path("classifier.model", models.classifier.file)
    backend = create_backend(v["classifier.backend"], path, threads=int(v["classifier.threads"]))
    cls = GestureClassifier(with_file(models.classifier, path), backend, max_batch=int(v["classifier.max_batch"]))
    node.get_logger().info(f"gesture classifier: {v['classifier.backend']} {path}")
    return cls


def build_tracking(node: BaseNode) -> tuple[IouTracker | None, Debouncer | None]:
    v = node.values
    if not v["tracking.enabled"]:
        return None, None
    return (
        IouTracker(float(v["tracking.iou_threshold"]), int(v["tracking.max_missed"])),
        Debouncer(int(v["events.debounce_frames"])),
    )

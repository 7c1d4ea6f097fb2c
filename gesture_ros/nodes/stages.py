"""Building the core stages from a node's parameters (the recipe is gesture_ros.factory); the
node owns the backends (closed at shutdown) and logs what runs."""

from __future__ import annotations

from typing import Any

from .. import factory
from ..core.model_spec import ModelsConfig
from ..core.pipeline import GestureClassifier, GesturePipeline, HandDetector
from .base import GestureNode


def _say_backend(node: GestureNode, stage: str, backend: Any) -> None:
    """Warn once about providers that were asked for and are not there; show on /diagnostics
    which one runs the stage's model (the backend's name for backends without providers)."""
    for note in getattr(backend, "notes", []):
        node.get_logger().warning(note)
    node.diag.stats.set_info(f"{stage}_provider", str(getattr(backend, "provider", node.values[f"{stage}.backend"])))


def build_detector(node: GestureNode, models: ModelsConfig) -> HandDetector:
    """The node's hand detector."""
    det = factory.detector(node.values, models)
    node.owned_backends.append(det.backend)
    _say_backend(node, "detector", det.backend)
    det.warm_up()
    node.get_logger().info(f"hand detector: {node.values['detector.backend']} {det.spec.file}")
    return det


def build_classifier(node: GestureNode, models: ModelsConfig) -> GestureClassifier:
    """The node's gesture classifier."""
    cls = factory.classifier(node.values, models)
    node.owned_backends.append(cls.backend)
    _say_backend(node, "classifier", cls.backend)
    cls.warm_up()
    node.get_logger().info(f"gesture classifier: {node.values['classifier.backend']} {cls.spec.file}")
    return cls


def build_pipeline(node: GestureNode, models: ModelsConfig, batch: int = 1) -> GesturePipeline:
    """The fused node's pipeline (its detector warmed up for ``batch`` cameras' frames at once)."""
    p = factory.pipeline(node.values, models)
    node.owned_backends.append(p.detector.backend)
    if p.classifier is not None:
        node.owned_backends.append(p.classifier.backend)
    _say_backend(node, "detector", p.detector.backend)
    p.detector.warm_up(batch)
    if p.classifier is not None:
        _say_backend(node, "classifier", p.classifier.backend)
        p.classifier.warm_up()
    node.get_logger().info(f"hand detector: {node.values['detector.backend']} {p.detector.spec.file}")
    if p.classifier is not None:
        node.get_logger().info(f"gesture classifier: {node.values['classifier.backend']} {p.classifier.spec.file}")
    return p

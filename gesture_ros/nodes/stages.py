"""Building the core stages from a node's parameters (the recipe is gesture_ros.factory)."""

from __future__ import annotations

from .. import factory
from ..core.model_spec import ModelsConfig
from ..core.pipeline import GestureClassifier, GesturePipeline, HandDetector
from ..core.tracking import Debouncer, IouTracker
from .base import BaseNode


def build_detector(node: BaseNode, models: ModelsConfig) -> HandDetector:
    det = factory.detector(node.values, models)
    node.owned_backends.append(det.backend)
    node.get_logger().info(f"hand detector: {node.values['detector.backend']} {det.spec.file}")
    return det


def build_classifier(node: BaseNode, models: ModelsConfig) -> GestureClassifier:
    cls = factory.classifier(node.values, models)
    node.owned_backends.append(cls.backend)
    node.get_logger().info(f"gesture classifier: {node.values['classifier.backend']} {cls.spec.file}")
    return cls


def build_tracking(node: BaseNode) -> tuple[IouTracker | None, Debouncer | None]:
    return factory.tracking(node.values)


def build_pipeline(node: BaseNode, models: ModelsConfig) -> GesturePipeline:
    p = factory.pipeline(node.values, models)
    node.owned_backends.append(p.detector.backend)
    if p.classifier is not None:
        node.owned_backends.append(p.classifier.backend)
    node.get_logger().info(f"hand detector: {node.values['detector.backend']} {p.detector.spec.file}")
    if p.classifier is not None:
        node.get_logger().info(f"gesture classifier: {node.values['classifier.backend']} {p.classifier.spec.file}")
    return p

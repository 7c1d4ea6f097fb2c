"""Building the pipeline stages from parameter values: one recipe for nodes and offline tools,
so an offline evaluation runs exactly what the nodes run."""

from __future__ import annotations

from typing import Any

from . import paths
from .backends import create_backend
from .core.model_spec import ModelsConfig, with_file
from .core.pipeline import GestureClassifier, GesturePipeline, HandDetector
from .core.tracking import Debouncer, IouTracker
from .settings import PARAMS, cluster_config, load_params_file, roi_config


def parameter_values(params_file: str | None = "config/gesture_ros.yaml") -> dict[str, Any]:
    """Defaults, overridden by a ROS params file's ``/**`` section (what a node would get)."""
    values: dict[str, Any] = {k: p.default for k, p in PARAMS.items()}
    if params_file:
        values.update(load_params_file(paths.resolve(params_file)))
    return values


def model_path(values: dict[str, Any], override: str, spec_file: str) -> str:
    return str(paths.resolve(str(values.get(override) or "") or spec_file))


def detector(values: dict[str, Any], models: ModelsConfig) -> HandDetector:
    path = model_path(values, "detector.model", models.detector.file)
    backend = create_backend(values["detector.backend"], path, threads=int(values["detector.threads"]))
    return HandDetector(with_file(models.detector, path), backend, cluster_config(values))


def classifier(values: dict[str, Any], models: ModelsConfig) -> GestureClassifier:
    path = model_path(values, "classifier.model", models.classifier.file)
    backend = create_backend(values["classifier.backend"], path, threads=int(values["classifier.threads"]))
    return GestureClassifier(with_file(models.classifier, path), backend, max_batch=int(values["classifier.max_batch"]))


def tracking(values: dict[str, Any]) -> tuple[IouTracker | None, Debouncer | None]:
    if not values["tracking.enabled"]:
        return None, None
    tracker = IouTracker(float(values["tracking.iou_threshold"]), int(values["tracking.max_missed"]))
    return tracker, Debouncer(int(values["events.debounce_frames"]))


def pipeline(values: dict[str, Any], models: ModelsConfig) -> GesturePipeline:
    """The fused pipeline exactly as gesture_pipeline_node builds it."""
    det = detector(values, models)
    cls = classifier(values, models) if values["classifier.enabled"] else None
    tracker, debouncer = tracking(values)
    return GesturePipeline(det, cls, roi_config(values), tracker, debouncer if cls else None)

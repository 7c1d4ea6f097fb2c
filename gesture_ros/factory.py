"""Building the pipeline stages from parameter values: one recipe for nodes and offline tools,
so an offline evaluation runs exactly what the nodes run."""

from __future__ import annotations

from typing import Any

from . import paths
from .backends import create_backend
from .core.inference import InferenceBackend
from .core.model_spec import ClassifierSpec, DetectorSpec, ModelsConfig, with_file
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


def backend(values: dict[str, Any], stage: str, spec: DetectorSpec | ClassifierSpec) -> tuple[InferenceBackend, str]:
    """The stage's backend and what it runs (a file, or ``triton://url/model``)."""
    kind = values[f"{stage}.backend"]
    if kind == "triton":
        name = str(values.get(f"{stage}.model") or "") or spec.triton_model
        roots = str(values["triton.root_certificates"])
        b = create_backend(
            "triton", name, url=values["triton.url"], protocol=values["triton.protocol"], model_version=values["triton.model_version"],
            timeout_s=float(values["triton.timeout"]), shared_memory=bool(values["triton.shared_memory"]),
            max_batch=int(values["classifier.max_batch"]) if stage == "classifier" else 1, ssl=bool(values["triton.ssl"]),
            root_certificates=paths.resolve(roots).read_text() if roots else "", lazy=True,
        )  # fmt: skip
        return b, f"triton://{values['triton.url']}/{name}"
    path = model_path(values, f"{stage}.model", spec.file)
    return create_backend(kind, path, threads=int(values[f"{stage}.threads"])), path


def detector(values: dict[str, Any], models: ModelsConfig) -> HandDetector:
    b, where = backend(values, "detector", models.detector)
    return HandDetector(with_file(models.detector, where), b, cluster_config(values), float(values["triton.reconnect_max"]))


def classifier(values: dict[str, Any], models: ModelsConfig) -> GestureClassifier:
    b, where = backend(values, "classifier", models.classifier)
    batch, wait = int(values["classifier.max_batch"]), float(values["triton.reconnect_max"])
    return GestureClassifier(with_file(models.classifier, where), b, max_batch=batch, reconnect_max=wait)


def tracking(values: dict[str, Any]) -> tuple[IouTracker | None, Debouncer | None]:
    if not values["tracking.enabled"]:
        return None, None
    tracker = IouTracker(float(values["tracking.iou_threshold"]), int(values["tracking.max_missed"]))
    return tracker, Debouncer(int(values["events.debounce_frames"]))


def retune_tracking(
    values: dict[str, Any], tracker: IouTracker | None, debouncer: Debouncer | None
) -> tuple[IouTracker | None, Debouncer | None]:
    """The tracker and debouncer after a runtime parameter change: the same objects with the new
    thresholds (track ids and gesture histories go on), new ones when tracking was switched on,
    none when it was switched off."""
    if not values["tracking.enabled"]:
        return None, None
    if tracker is None or debouncer is None:
        return tracking(values)
    tracker.iou_threshold = float(values["tracking.iou_threshold"])
    tracker.max_missed = int(values["tracking.max_missed"])
    debouncer.frames = int(values["events.debounce_frames"])
    return tracker, debouncer


def pipeline(values: dict[str, Any], models: ModelsConfig) -> GesturePipeline:
    """The fused pipeline exactly as gesture_pipeline_node builds it."""
    det = detector(values, models)
    cls = classifier(values, models) if values["classifier.enabled"] else None
    tracker, debouncer = tracking(values)
    return GesturePipeline(det, cls, roi_config(values), tracker, debouncer if cls else None)

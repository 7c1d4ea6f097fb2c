"""Building the pipeline stages from parameter values: one recipe for nodes and offline tools,
so an offline evaluation runs exactly what the nodes run."""

from __future__ import annotations

from typing import Any

from . import paths
from .backends import create_backend
from .core.inference import InferenceBackend
from .core.model_spec import ClassifierSpec, DetectorSpec, ModelsConfig, with_file
from .core.pipeline import GestureClassifier, GesturePipeline, HandDetector
from .core.tracking import HandTracking
from .settings import CLUSTERING, INTERVAL, MOTION, PARAMS, RECONNECT, REUSE, ROI, TRACKING, load_params_file


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
            "triton",
            name,
            url=values["triton.url"],
            protocol=values["triton.protocol"],
            model_version=values["triton.model_version"],
            timeout_s=float(values["triton.timeout"]),
            shared_memory=bool(values["triton.shared_memory"]),
            max_batch=int(values["classifier.max_batch"]) if stage == "classifier" else 1,
            ssl=bool(values["triton.ssl"]),
            root_certificates=paths.resolve(roots).read_text() if roots else "",
            lazy=True,
        )
        return b, f"triton://{values['triton.url']}/{name}"
    path = model_path(values, f"{stage}.model", spec.file)
    options: dict[str, Any] = {"threads": int(values[f"{stage}.threads"])}
    if kind == "onnxruntime":
        options |= {
            "providers": str(values[f"{stage}.providers"]),
            "trt_cache": str(values["onnxruntime.trt_cache"]),
            "trt_precision": str(values["onnxruntime.trt_precision"]),
        }
    return create_backend(kind, path, **options), path


def detector(values: dict[str, Any], models: ModelsConfig) -> HandDetector:
    b, where = backend(values, "detector", models.detector)
    return HandDetector(
        with_file(models.detector, where),
        b,
        CLUSTERING.build(values),
        RECONNECT.build(values).max_wait,
        fit_input=bool(values["detector.fit_input"]),
    )


def classifier(values: dict[str, Any], models: ModelsConfig) -> GestureClassifier:
    b, where = backend(values, "classifier", models.classifier)
    batch, wait = int(values["classifier.max_batch"]), RECONNECT.build(values).max_wait
    return GestureClassifier(with_file(models.classifier, where), b, max_batch=batch, reconnect_max=wait)


def tracking(values: dict[str, Any], events: bool = True) -> HandTracking:
    """Track ids and (with ``events``) debounced gesture events, as the parameters say."""
    return HandTracking(TRACKING.build(values), events)


def camera_pipeline(first: GesturePipeline, values: dict[str, Any]) -> GesturePipeline:
    """Another camera's pipeline beside ``first``: its own tracks, frame skipper, gesture memory
    and motion histories, ``first``'s detector and classifier (one copy of each model)."""
    return GesturePipeline(
        first.detector,
        first.classifier,
        ROI.build(values),
        tracking(values, events=first.classifier is not None),
        INTERVAL.build(values),
        REUSE.build(values),
        MOTION.build(values),
    )


def pipeline(values: dict[str, Any], models: ModelsConfig) -> GesturePipeline:
    """The fused pipeline exactly as gesture_pipeline_node builds it."""
    det = detector(values, models)
    cls = classifier(values, models) if values["classifier.enabled"] else None
    return GesturePipeline(
        det,
        cls,
        ROI.build(values),
        tracking(values, events=cls is not None),
        INTERVAL.build(values),
        REUSE.build(values),
        MOTION.build(values),
    )

"""Every ROS parameter of every node: name, default, range, description, in one table.

Nodes declare what they use from here (with descriptors and ranges), ``config/gesture_ros.yaml``
sets them for a robot, and the helpers below turn parameter values into the core's config
objects. No ROS import: tests and offline tools use the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends.registry import names as backend_names
from .core.detectnet import CLUSTER_METHODS, ClusterConfig
from .core.errors import ConfigError
from .core.roi import RoiConfig
from .core.yamlfile import read_yaml

Value = bool | int | float | str


@dataclass(frozen=True)
class Param:
    name: str
    default: Value
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not acceptable, or None."""
        want = type(self.default)
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if type(value) is not want:
            return f"{self.name} must be {want.__name__}, got {type(value).__name__} {value!r}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.min is not None and isinstance(value, int | float) and value < self.min:
            return f"{self.name} must be >= {self.min}, got {value!r}"
        if self.max is not None and isinstance(value, int | float) and value > self.max:
            return f"{self.name} must be <= {self.max}, got {value!r}"
        return None


_D = ClusterConfig()
_R = RoiConfig()

PARAMS: dict[str, Param] = {
    p.name: p
    for p in [
        # topics
        Param(
            "image_topic",
            "camera/image_raw",
            "Input image topic (sensor_msgs/Image; '<topic>/compressed' when image_transport is compressed)",
            read_only=True,
        ),
        Param(
            "image_transport",
            "raw",
            "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage on <image_topic>/compressed",
            choices=("raw", "compressed"),
            read_only=True,
        ),
        Param("detections_topic", "hands/detections", "DetectionArray output of the detector", read_only=True),
        Param("rois_topic", "hands/rois", "DetectionArray with expanded ROIs (roi_node output, classifier input)", read_only=True),
        Param("gestures_topic", "gestures", "GestureArray output", read_only=True),
        Param("events_topic", "gestures/events", "GestureEvent output: one message when a tracked hand's gesture changes", read_only=True),
        Param("overlay_topic", "gestures/overlay", "Annotated image output of the overlay node", read_only=True),
        Param(
            "models_file",
            "config/models.yaml",
            "Model descriptions (tensors, normalisation, labels); relative to the package share directory",
            read_only=True,
        ),
        Param("diagnostics_period", 1.0, "Seconds between /diagnostics messages", min=0.1, max=60.0, read_only=True),
        # detector
        Param("detector.backend", "onnxruntime", "Inference backend of the hand detector", choices=backend_names(), read_only=True),
        Param("detector.model", "", "Detector model file (ONNX or TensorRT engine); empty: the file in models_file", read_only=True),
        Param("detector.threads", 0, "Intra-op threads of ONNX Runtime (0: library default)", min=0, max=64, read_only=True),
        Param("detector.clustering", _D.method, "Clustering of grid boxes: deepstream_dbscan, tao_dbscan or nms", choices=CLUSTER_METHODS),
        Param(
            "detector.coverage_threshold",
            _D.coverage_threshold,
            "Coverage a grid cell needs to propose a box (DeepStream pre-cluster-threshold)",
            min=0.0,
            max=1.0,
        ),
        Param("detector.eps", _D.eps, "DBSCAN neighbourhood in 1 - IoU", min=0.0, max=1.0),
        Param("detector.min_boxes", _D.min_boxes, "DeepStream DBSCAN: boxes (with itself) a core box needs", min=1, max=1000),
        Param("detector.min_samples", _D.min_samples, "TAO DBSCAN: summed coverage a core box needs", min=0.0, max=1000.0),
        Param(
            "detector.confidence_threshold", _D.confidence_threshold, "TAO DBSCAN: aggregated coverage a cluster needs", min=0.0, max=1000.0
        ),
        Param("detector.min_height", _D.min_height, "TAO DBSCAN: minimum box height in network pixels", min=0.0, max=10000.0),
        Param("detector.nms_iou", _D.nms_iou, "NMS: IoU above which the weaker box is suppressed", min=0.0, max=1.0),
        Param("detector.top_k", 4, "Keep at most this many hands per frame (0: all)", min=0, max=1000),
        # ROI
        Param("roi.ratio", _R.ratio, "ROI side = longer box side x ratio + 2 x margin_px", min=0.1, max=10.0),
        Param("roi.margin_px", _R.margin_px, "Pixels added to every side of the ROI", min=0.0, max=4096.0),
        Param("roi.min_size", _R.min_size, "ROIs smaller than this (pixels, after clipping) are not classified", min=0.0, max=4096.0),
        Param("roi.square", _R.square, "Square ROIs (GestureNet's crops are square)"),
        # classifier
        Param("classifier.backend", "onnxruntime", "Inference backend of the gesture classifier", choices=backend_names(), read_only=True),
        Param("classifier.model", "", "Classifier model file; empty: the file in models_file", read_only=True),
        Param("classifier.threads", 0, "Intra-op threads of ONNX Runtime (0: library default)", min=0, max=64, read_only=True),
        Param("classifier.max_batch", 8, "Hands classified per backend call", min=1, max=64, read_only=True),
        # Triton Inference Server (detector.backend / classifier.backend: triton)
        Param("triton.url", "127.0.0.1:8001", "Triton server host:port (gRPC 8001, HTTP 8000 by default)", read_only=True),
        Param("triton.protocol", "grpc", "Triton client protocol", choices=("grpc", "http"), read_only=True),
        Param("triton.model_version", "", "Model version on the server (empty: the server's policy)", read_only=True),
        Param("triton.timeout", 1.0, "Per-request timeout (s); a late answer counts as a fault", min=0.01, max=60.0, read_only=True),
        Param("triton.shared_memory", False, "Send the input tensor through system shared memory (server on this host)", read_only=True),
        Param("triton.ssl", False, "TLS to the server (gRPC: root_certificates; HTTP: the system CA store)", read_only=True),
        Param("triton.root_certificates", "", "PEM file of the CA that signed the server's certificate (gRPC + ssl)", read_only=True),
        Param("triton.reconnect_max", 5.0, "Longest wait (s) between reconnection attempts after a fault", min=0.1, max=600.0),
        Param("classifier.enabled", True, "Fused node: classify gestures (False: detections only)", read_only=True),
        Param(
            "sync.queue_size",
            10,
            "Images / detection arrays kept while waiting for their partner (exact stamp match)",
            min=1,
            max=1000,
            read_only=True,
        ),
        # tracking and events
        Param("tracking.enabled", True, "Give hands track ids across frames and publish gesture events"),
        Param("tracking.iou_threshold", 0.3, "IoU a detection needs with a track to continue it", min=0.0, max=1.0),
        Param("tracking.max_missed", 5, "Frames a track survives without a matching detection", min=0, max=1000),
        Param("events.debounce_frames", 3, "Agreeing frames before a gesture change is published", min=1, max=1000),
        # camera
        Param(
            "camera.source", "0", "V4L2 index, video file, image folder, rtsp:// URL or GStreamer pipeline (contains '!')", read_only=True
        ),
        Param("camera.frame_id", "camera", "frame_id of published images", read_only=True),
        Param(
            "camera.rate",
            30.0,
            "Publish rate in Hz (files and folders); devices run at their own rate, capped by this",
            min=0.1,
            max=1000.0,
            read_only=True,
        ),
        Param("camera.loop", False, "Restart a video file or folder at its end instead of exiting", read_only=True),
        Param("camera.width", 0, "Requested capture width (0: device default)", min=0, max=16384, read_only=True),
        Param("camera.height", 0, "Requested capture height (0: device default)", min=0, max=16384, read_only=True),
        Param(
            "camera.reconnect_period", 1.0, "Seconds between attempts to reopen a device that dropped", min=0.05, max=3600.0, read_only=True
        ),
        Param(
            "camera.start_delay",
            0.0,
            "Seconds to wait before the first frame (lets subscribers connect)",
            min=0.0,
            max=600.0,
            read_only=True,
        ),
        Param(
            "camera.wait_for_subscribers",
            0,
            "Hold the first frame until this many image subscribers are matched (or start_delay passed, if > 0)",
            min=0,
            max=100,
            read_only=True,
        ),
        # overlay
        Param("overlay.video_path", "", "Also write annotated frames to this video file (empty: off)", read_only=True),
        Param("overlay.video_fps", 10.0, "Frame rate written into the video file", min=0.1, max=1000.0, read_only=True),
        Param("overlay.publish", True, "Publish the annotated image on overlay_topic", read_only=True),
    ]
}


def check_all(values: dict[str, Any]) -> list[str]:
    """Problems in a mapping of parameter values (unknown names included)."""
    problems = []
    for name, value in values.items():
        spec = PARAMS.get(name)
        if spec is None:
            problems.append(f"unknown parameter '{name}'")
            continue
        why = spec.check(value)
        if why:
            problems.append(why)
    return problems


def load_params_file(path: str | Path) -> dict[str, Any]:
    """The ``/**`` parameters of a ROS params file, flattened to dotted names."""
    raw = read_yaml(path, "parameters file")
    try:
        section = raw["/**"]["ros__parameters"]
    except (KeyError, TypeError):
        raise ConfigError(f"parameters file {path} has no '/**: ros__parameters:' section") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                flat[f"{prefix}{k}"] = v

    walk("", section)
    return flat


def cluster_config(v: dict[str, Any]) -> ClusterConfig:
    return ClusterConfig(
        method=v["detector.clustering"],
        coverage_threshold=float(v["detector.coverage_threshold"]),
        eps=float(v["detector.eps"]),
        min_boxes=int(v["detector.min_boxes"]),
        min_samples=float(v["detector.min_samples"]),
        confidence_threshold=float(v["detector.confidence_threshold"]),
        min_height=float(v["detector.min_height"]),
        nms_iou=float(v["detector.nms_iou"]),
        top_k=int(v["detector.top_k"]),
    )


def roi_config(v: dict[str, Any]) -> RoiConfig:
    return RoiConfig(
        ratio=float(v["roi.ratio"]),
        margin_px=float(v["roi.margin_px"]),
        min_size=float(v["roi.min_size"]),
        square=bool(v["roi.square"]),
    )


TRITON_PARAMS = tuple(n for n in PARAMS if n.startswith("triton."))
DETECTOR_PARAMS = tuple(n for n in PARAMS if n.startswith("detector.")) + TRITON_PARAMS
ROI_PARAMS = tuple(n for n in PARAMS if n.startswith("roi."))
CLASSIFIER_PARAMS = tuple(n for n in PARAMS if n.startswith("classifier.") and n != "classifier.enabled") + TRITON_PARAMS
TRACKING_PARAMS = tuple(n for n in PARAMS if n.startswith(("tracking.", "events.")))
CAMERA_PARAMS = tuple(n for n in PARAMS if n.startswith("camera."))
OVERLAY_PARAMS = tuple(n for n in PARAMS if n.startswith("overlay."))

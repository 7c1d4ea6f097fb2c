"""Every ROS parameter of every node: name, default, range, description, in one table.

Nodes declare what they use from here (with descriptors and ranges), ``config/gesture_ros.yaml``
sets them for a robot, and the helpers below turn parameter values into the core's config
objects. No ROS import: tests and offline tools use the same table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from .backends.registry import names as backend_names
from .core.depth import DepthConfig
from .core.detectnet import CLUSTER_METHODS, ClusterConfig
from .core.errors import ConfigError
from .core.link import ReconnectConfig
from .core.motion import MotionConfig
from .core.roi import RoiConfig
from .core.speed import IntervalConfig, ReuseConfig
from .core.tracking import TrackingConfig
from .core.yamlfile import read_yaml

Value = bool | int | float | str


@dataclass(frozen=True)
class Param:
    """One ROS parameter: its name, default (which fixes its type), description and limits."""

    name: str
    default: Value
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def read_only(self) -> bool:
        """Only the parameters of a :data:`GROUPS` entry can change at runtime; nodes apply
        them through one applier per group. Everything else is read once at start-up."""
        return group_of(self.name) is None

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
_T = TrackingConfig()
_M = MotionConfig()
_Z = DepthConfig()
_L = ReconnectConfig()
_I = IntervalConfig()
_U = ReuseConfig()

PARAMS: dict[str, Param] = {
    p.name: p
    for p in [
        # topics
        Param(
            "image_topic",
            "camera/image_raw",
            "Input image topic (sensor_msgs/Image; '<topic>/compressed' when image_transport is compressed)",
        ),
        Param(
            "image_transport",
            "raw",
            "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage on <image_topic>/compressed",
            choices=("raw", "compressed"),
        ),
        Param(
            "image_queue_size",
            3,
            "Images kept while the node is busy (best effort, keep-last-N): frames that arrive during a "
            "detector run wait their turn and are processed in order. 1: only the newest frame waits "
            "(each frame's latency is lowest; the others are dropped and counted as dropped_frames)",
            min=1,
            max=100,
        ),
        Param("detections_topic", "hands/detections", "DetectionArray output of the detector"),
        Param("rois_topic", "hands/rois", "DetectionArray with expanded ROIs (roi_node output, classifier input)"),
        Param("gestures_topic", "gestures", "GestureArray output"),
        Param(
            "events_topic", "gestures/events", "GestureEvent output: one message when a tracked hand's gesture changes"
        ),
        Param("overlay_topic", "gestures/overlay", "Annotated image output of the overlay node"),
        Param(
            "vision_msgs_topic",
            "",
            "Also publish the hands as vision_msgs/Detection2DArray here (gesture label and score, track id); "
            "empty: off. Needs vision_msgs (Humble-and-later layout)",
        ),
        Param(
            "models_file",
            "config/models.yaml",
            "Model descriptions (tensors, normalisation, labels); relative to the package share directory",
        ),
        Param("diagnostics_period", 1.0, "Seconds between /diagnostics messages", min=0.1, max=60.0),
        Param(
            "autostart",
            True,
            "Inference nodes (lifecycle nodes): configure and activate at start; false: wait for a lifecycle "
            "manager (ros2 lifecycle set <node> configure, then activate)",
        ),
        # detector
        Param(
            "detector.backend",
            "openvino",
            "Inference backend of the hand detector (openvino and onnxruntime run the ONNX file on the CPU)",
            choices=backend_names(),
        ),
        Param("detector.model", "", "Detector model file (ONNX or TensorRT engine); empty: the file in models_file"),
        Param(
            "detector.providers",
            "cpu",
            "onnxruntime backend: execution providers in order, comma-separated (tensorrt, cuda, openvino, cpu); "
            "unavailable ones are skipped with one warning, /diagnostics says which one runs",
        ),
        Param(
            "detector.threads",
            0,
            "Inference threads of OpenVINO / ONNX Runtime (0: the library's default)",
            min=0,
            max=64,
        ),
        Param(
            "detector.fit_input",
            True,
            "Run a frame whose aspect leaves padding at a smaller input of the same scale, when the model takes any "
            "size (models.yaml size_multiple; OpenVINO, ONNX Runtime). A 640x480 frame then runs at 384x288 instead "
            "of 512x288",
        ),
        Param(
            "detector.clustering",
            _D.method,
            "Clustering of grid boxes: deepstream_dbscan, tao_dbscan or nms",
            choices=CLUSTER_METHODS,
        ),
        Param(
            "detector.coverage_threshold",
            _D.coverage_threshold,
            "Coverage a grid cell needs to propose a box (DeepStream pre-cluster-threshold)",
            min=0.0,
            max=1.0,
        ),
        Param("detector.eps", _D.eps, "DBSCAN neighbourhood in 1 - IoU", min=0.0, max=1.0),
        Param(
            "detector.min_boxes",
            _D.min_boxes,
            "DeepStream DBSCAN: boxes (with itself) a core box needs",
            min=1,
            max=1000,
        ),
        Param(
            "detector.min_samples", _D.min_samples, "TAO DBSCAN: summed coverage a core box needs", min=0.0, max=1000.0
        ),
        Param(
            "detector.confidence_threshold",
            _D.confidence_threshold,
            "TAO DBSCAN: aggregated coverage a cluster needs",
            min=0.0,
            max=1000.0,
        ),
        Param(
            "detector.min_height",
            _D.min_height,
            "TAO DBSCAN: minimum box height in network pixels",
            min=0.0,
            max=10000.0,
        ),
        Param("detector.nms_iou", _D.nms_iou, "NMS: IoU above which the weaker box is suppressed", min=0.0, max=1.0),
        Param(
            "detector.interval",
            _I.interval,
            "Frames the detector skips between runs; optical flow carries the boxes (0: detect every frame)",
            min=0,
            max=30,
        ),
        Param("detector.top_k", _D.top_k, "Keep at most this many hands per frame (0: all)", min=0, max=1000),
        # ROI
        Param("roi.ratio", _R.ratio, "ROI side = longer box side x ratio + 2 x margin_px", min=0.1, max=10.0),
        Param("roi.margin_px", _R.margin_px, "Pixels added to every side of the ROI", min=0.0, max=4096.0),
        Param(
            "roi.min_size",
            _R.min_size,
            "ROIs smaller than this (pixels, after clipping) are not classified",
            min=0.0,
            max=4096.0,
        ),
        Param("roi.square", _R.square, "Square ROIs (GestureNet's crops are square)"),
        # classifier
        Param("classifier.backend", "openvino", "Inference backend of the gesture classifier", choices=backend_names()),
        Param("classifier.model", "", "Classifier model file; empty: the file in models_file"),
        Param(
            "classifier.providers",
            "cpu",
            "onnxruntime backend: execution providers in order, comma-separated (tensorrt, cuda, openvino, cpu)",
        ),
        Param(
            "classifier.threads",
            0,
            "Inference threads of OpenVINO / ONNX Runtime (0: the library's default)",
            min=0,
            max=64,
        ),
        Param(
            "classifier.reuse_frames",
            _U.frames,
            "A tracked hand keeps its gesture for up to this many frames while its box stays (0: classify every frame)",
            min=0,
            max=100,
        ),
        Param(
            "classifier.reuse_iou",
            _U.iou,
            "IoU with the box a gesture was classified at, under which the hand is classified again",
            min=0.0,
            max=1.0,
        ),
        Param(
            "classifier.reuse_change",
            _U.change,
            "Mean change (0-255) of the hand's 8x8 crop thumbnail since it was classified, above which it is "
            "classified again (0: the box alone decides)",
            min=0.0,
            max=255.0,
        ),
        Param("classifier.max_batch", 8, "Hands classified per backend call", min=1, max=64),
        # ONNX Runtime's TensorRT execution provider (a providers list that starts with tensorrt)
        Param("onnxruntime.trt_cache", "", "Folder for the TensorRT EP's engine cache (empty: build at every start)"),
        Param("onnxruntime.trt_precision", "fp16", "TensorRT EP precision", choices=("fp32", "fp16", "int8")),
        # Triton Inference Server (detector.backend / classifier.backend: triton)
        Param("triton.url", "127.0.0.1:8001", "Triton server host:port (gRPC 8001, HTTP 8000 by default)"),
        Param("triton.protocol", "grpc", "Triton client protocol", choices=("grpc", "http")),
        Param("triton.model_version", "", "Model version on the server (empty: the server's policy)"),
        Param("triton.timeout", 1.0, "Per-request timeout (s); a late answer counts as a fault", min=0.01, max=60.0),
        Param(
            "triton.shared_memory", False, "Send the input tensor through system shared memory (server on this host)"
        ),
        Param("triton.ssl", False, "TLS to the server (gRPC: root_certificates; HTTP: the system CA store)"),
        Param("triton.root_certificates", "", "PEM file of the CA that signed the server's certificate (gRPC + ssl)"),
        Param(
            "triton.reconnect_max",
            _L.max_wait,
            "Longest wait (s) between reconnection attempts after a fault",
            min=0.1,
            max=600.0,
        ),
        Param("classifier.enabled", True, "Fused node: classify gestures (False: detections only)"),
        Param(
            "sync.queue_size",
            10,
            "Images / detection arrays kept while waiting for their partner (exact stamp match)",
            min=1,
            max=1000,
        ),
        # tracking and events
        Param("tracking.enabled", _T.enabled, "Give hands track ids across frames and publish gesture events"),
        Param(
            "tracking.iou_threshold",
            _T.iou_threshold,
            "IoU a detection needs with a track to continue it",
            min=0.0,
            max=1.0,
        ),
        Param(
            "tracking.max_missed",
            _T.max_missed,
            "Frames a track survives without a matching detection",
            min=0,
            max=1000,
        ),
        Param(
            "events.debounce_frames",
            _T.debounce_frames,
            "Agreeing frames before a gesture change is published",
            min=1,
            max=1000,
        ),
        # motion gestures (core/motion.py): distances in hand sizes, so distance to the camera does not matter
        Param(
            "motion.enabled", _M.enabled, "Publish swipes and waves of tracked hands as GestureEvents (motion field)"
        ),
        Param(
            "motion.window", _M.window, "Seconds of a track's history a motion gesture must fit in", min=0.2, max=10.0
        ),
        Param(
            "motion.swipe_distance",
            _M.swipe_distance,
            "A swipe travels at least this many hand sizes",
            min=0.2,
            max=20.0,
        ),
        Param(
            "motion.swipe_speed",
            _M.swipe_speed,
            "A swipe's mean speed is at least this many hand sizes per second",
            min=0.0,
            max=100.0,
        ),
        Param(
            "motion.axis_ratio",
            _M.axis_ratio,
            "A swipe travels this many times further along its axis than across",
            min=1.0,
            max=20.0,
        ),
        Param(
            "motion.wave_reversals", _M.wave_reversals, "Horizontal direction reversals that make a wave", min=1, max=20
        ),
        Param(
            "motion.wave_amplitude",
            _M.wave_amplitude,
            "Each swing of a wave is at least this many hand sizes wide",
            min=0.05,
            max=10.0,
        ),
        Param(
            "motion.cooldown",
            _M.cooldown,
            "Seconds after a motion gesture during which that hand fires no other",
            min=0.0,
            max=60.0,
        ),
        Param(
            "motion.settle",
            _M.settle,
            "Seconds a hand must be in view, clear of the image border, before its motion counts",
            min=0.0,
            max=10.0,
        ),
        # several cameras in one fused node (nodes/cameras.py)
        Param(
            "multi_camera.namespaces",
            "",
            "Comma-separated camera namespaces served by one fused node (inputs <ns>/<image_topic>, outputs "
            "<ns>/<gestures_topic> ...); empty: one camera",
        ),
        Param(
            "multi_camera.batch_wait",
            0.01,
            "Seconds to wait after a camera's frame for the others' before detecting whatever is ready "
            "(0: each frame alone, no batching)",
            min=0.0,
            max=1.0,
        ),
        # hand positions from an aligned depth image (core/depth.py)
        Param("depth.enabled", False, "Give each hand a 3D position from an aligned depth image and CameraInfo"),
        Param(
            "depth_topic",
            "camera/aligned_depth_to_color/image_raw",
            "Depth image aligned to the colour image (16UC1 mm or 32FC1 m), matched by stamp",
        ),
        Param("camera_info_topic", "camera/color/camera_info", "CameraInfo of the colour image (its K deprojects)"),
        Param("depth.core", _Z.core, "Central fraction of the hand's box whose depth is read", min=0.05, max=1.0),
        Param(
            "depth.near_percentile",
            _Z.near_percentile,
            "The hand's nearest part: this percentile of the valid depths in the box's core",
            min=0.0,
            max=100.0,
        ),
        Param(
            "depth.thickness", _Z.thickness, "Metres behind the nearest part that count as the hand", min=0.0, max=2.0
        ),
        Param("depth.min_valid", _Z.min_valid, "Fraction of the core's pixels that must have depth", min=0.0, max=1.0),
        Param("depth.min_depth", _Z.min_depth, "Nearer depths (m) are invalid", min=0.0, max=100.0),
        Param("depth.max_depth", _Z.max_depth, "Farther depths (m) are invalid", min=0.01, max=1000.0),
        # camera
        Param(
            "camera.source",
            "0",
            "V4L2 index, video file, image folder, rtsp:// URL or GStreamer pipeline (contains '!')",
        ),
        Param("camera.frame_id", "camera", "frame_id of published images"),
        Param(
            "camera.rate",
            30.0,
            "Publish rate in Hz (files and folders); devices run at their own rate, capped by this",
            min=0.1,
            max=1000.0,
        ),
        Param("camera.loop", False, "Restart a video file or folder at its end instead of exiting"),
        Param("camera.width", 0, "Requested capture width (0: device default)", min=0, max=16384),
        Param("camera.height", 0, "Requested capture height (0: device default)", min=0, max=16384),
        Param(
            "camera.reconnect_period",
            1.0,
            "Seconds between attempts to reopen a device that dropped",
            min=0.05,
            max=3600.0,
        ),
        Param(
            "camera.start_delay",
            0.0,
            "Seconds to wait before the first frame (lets subscribers connect)",
            min=0.0,
            max=600.0,
        ),
        Param(
            "camera.wait_for_subscribers",
            0,
            "Hold the first frame until this many image subscribers are matched (or start_delay passed, if > 0)",
            min=0,
            max=100,
        ),
        Param(
            "camera.wait_for_echo",
            False,
            "With wait_for_subscribers: also hold the first frame until gestures_topic has a subscriber (the "
            "graphs' console, launch argument echo, which starts beside the camera and must not miss the first frames)",
        ),
        # overlay
        Param("overlay.video_path", "", "Also write annotated frames to this video file (empty: off)"),
        Param("overlay.video_fps", 10.0, "Frame rate written into the video file", min=0.1, max=1000.0),
        Param("overlay.publish", True, "Publish the annotated image on overlay_topic"),
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


T = TypeVar("T")


@dataclass(frozen=True)
class Group(Generic[T]):
    """Parameters the core takes together as one frozen value: the unit of a runtime change.

    ``fields`` maps each parameter to its field of ``make``; :meth:`build` makes the typed value
    from parameter values (ints given for float parameters become floats). A node that applies
    a group registers one function for it (``gesture_ros.nodes.parameters``); only the
    parameters of the groups a node applies are writable there.
    """

    name: str
    make: Callable[..., T]
    fields: dict[str, str]

    @property
    def params(self) -> tuple[str, ...]:
        """The group's parameter names."""
        return tuple(self.fields)

    def build(self, values: Mapping[str, Any]) -> T:
        """The typed value of these parameter values."""
        kw = {
            f: float(values[p]) if isinstance(PARAMS[p].default, float) else values[p] for p, f in self.fields.items()
        }
        return self.make(**kw)


CLUSTERING: Group[ClusterConfig] = Group(
    "clustering",
    ClusterConfig,
    {
        "detector.clustering": "method",
        "detector.coverage_threshold": "coverage_threshold",
        "detector.eps": "eps",
        "detector.min_boxes": "min_boxes",
        "detector.min_samples": "min_samples",
        "detector.confidence_threshold": "confidence_threshold",
        "detector.min_height": "min_height",
        "detector.nms_iou": "nms_iou",
        "detector.top_k": "top_k",
    },
)
ROI: Group[RoiConfig] = Group(
    "roi",
    RoiConfig,
    {"roi.ratio": "ratio", "roi.margin_px": "margin_px", "roi.min_size": "min_size", "roi.square": "square"},
)
TRACKING: Group[TrackingConfig] = Group(
    "tracking",
    TrackingConfig,
    {
        "tracking.enabled": "enabled",
        "tracking.iou_threshold": "iou_threshold",
        "tracking.max_missed": "max_missed",
        "events.debounce_frames": "debounce_frames",
    },
)
RECONNECT: Group[ReconnectConfig] = Group("reconnect", ReconnectConfig, {"triton.reconnect_max": "max_wait"})
INTERVAL: Group[IntervalConfig] = Group("interval", IntervalConfig, {"detector.interval": "interval"})
MOTION: Group[MotionConfig] = Group(
    "motion", MotionConfig, {n: n.removeprefix("motion.") for n in PARAMS if n.startswith("motion.")}
)
DEPTH: Group[DepthConfig] = Group(
    "depth",
    DepthConfig,
    # how a hand's depth is read; depth.enabled decides the subscriptions, read once at start
    {n: n.removeprefix("depth.") for n in PARAMS if n.startswith("depth.") and n != "depth.enabled"},
)
REUSE: Group[ReuseConfig] = Group(
    "reuse",
    ReuseConfig,
    {"classifier.reuse_frames": "frames", "classifier.reuse_iou": "iou", "classifier.reuse_change": "change"},
)

#: every group of runtime-writable parameters, by name
GROUPS: dict[str, Group[Any]] = {
    g.name: g for g in (CLUSTERING, ROI, TRACKING, RECONNECT, INTERVAL, REUSE, MOTION, DEPTH)
}
_GROUP_OF: dict[str, Group[Any]] = {p: g for g in GROUPS.values() for p in g.params}


def group_of(name: str) -> Group[Any] | None:
    """The group a parameter belongs to; None for a parameter read once at start-up."""
    return _GROUP_OF.get(name)


#: what every node that takes camera images declares
IMAGE_INPUT_PARAMS = ("image_topic", "image_transport", "image_queue_size")
TRITON_PARAMS = tuple(n for n in PARAMS if n.startswith("triton."))
ORT_PARAMS = tuple(n for n in PARAMS if n.startswith("onnxruntime."))
DETECTOR_PARAMS = tuple(n for n in PARAMS if n.startswith("detector.")) + TRITON_PARAMS + ORT_PARAMS
ROI_PARAMS = tuple(n for n in PARAMS if n.startswith("roi."))
CLASSIFIER_PARAMS = (
    tuple(n for n in PARAMS if n.startswith("classifier.") and n != "classifier.enabled") + TRITON_PARAMS + ORT_PARAMS
)
TRACKING_PARAMS = tuple(n for n in PARAMS if n.startswith(("tracking.", "events.", "motion.")))
CAMERA_PARAMS = tuple(n for n in PARAMS if n.startswith("camera."))
OVERLAY_PARAMS = tuple(n for n in PARAMS if n.startswith("overlay."))
DEPTH_PARAMS = ("depth_topic", "camera_info_topic", *(n for n in PARAMS if n.startswith("depth.")))

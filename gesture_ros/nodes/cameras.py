"""Several cameras in one fused node: one copy of each model, one namespace per camera.

Each camera (``multi_camera.namespaces``, e.g. ``front,left``) has its own input
(``<ns>/<image_topic>``), outputs (``<ns>/<gestures_topic>`` ...), depth input and pipeline state
(tracks, frame skipper, gesture memory, motion); the detector and the classifier are shared. The
cameras' newest frames are detected in one batched call when they are ready together: a batch
goes as soon as every camera has a frame waiting, or ``multi_camera.batch_wait`` seconds after the
first one arrived, with whichever cameras are ready then (a slow or dead camera never holds the
others up for longer); ``batch_wait: 0`` sends each frame as it comes (no batching, models still
shared). One camera (no namespaces) is the same code with a batch of one, sent at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent

from ..core.depth import DepthConfig
from .depth_input import DepthInput
from .diagnostics import Diagnostics
from .image_input import ImageInput
from .vision import VisionOutput

#: the node's output topics, each put under every camera's namespace
OUTPUTS = ("detections_topic", "gestures_topic", "events_topic")


def namespaces(value: str) -> list[str]:
    """``multi_camera.namespaces``: comma-separated; empty: the node's one camera ("")."""
    names = [n.strip().strip("/") for n in value.split(",") if n.strip().strip("/")]
    if len(set(names)) != len(names):
        raise ValueError(f"multi_camera.namespaces names a camera twice: {value!r}")
    return names or [""]


def under(ns: str, topic: str) -> str:
    """``topic`` in camera namespace ``ns`` (unchanged for the single camera)."""
    return f"{ns}/{topic.lstrip('/')}" if ns else topic


class CameraStream:
    """One camera's input, outputs and waiting frame."""

    def __init__(
        self, node: Any, ns: str, values: dict[str, Any], diag: Diagnostics, depth: DepthConfig, qos: Any
    ) -> None:
        self.ns = ns
        mine = {
            **values,
            "image_topic": under(ns, str(values["image_topic"])),
            "depth_topic": under(ns, str(values.get("depth_topic", ""))),
            "camera_info_topic": under(ns, str(values.get("camera_info_topic", ""))),
        }
        self.topics = {k: under(ns, str(values[k])) for k in OUTPUTS}
        self.images = ImageInput(node, mine, diag)
        self.depth = DepthInput(node, mine, diag, depth)
        vision = str(values.get("vision_msgs_topic", ""))
        self.vision = VisionOutput(node, qos, under(ns, vision) if vision else "")
        self.det_pub = node.create_lifecycle_publisher(DetectionArray, self.topics["detections_topic"], qos)
        self.pub = node.create_lifecycle_publisher(GestureArray, self.topics["gestures_topic"], qos)
        self.events = node.create_lifecycle_publisher(GestureEvent, self.topics["events_topic"], qos)
        self.pending: Any = None


class CameraSet:
    """The streams and the batching of their frames; ``process`` gets [(stream, message), ...]."""

    def __init__(
        self,
        streams: list[CameraStream],
        wait: float,
        process: Callable[[list[tuple[CameraStream, Any]]], None],
        node: Any,
    ) -> None:
        self.streams, self.wait, self.process, self.node = streams, wait, process, node
        self._first: float | None = None
        self._timer: Any = None

    def subscribe(self) -> None:
        for s in self.streams:
            s.depth.subscribe()  # depth first: it must be there when its colour frame is done
            s.images.subscribe(partial(self._arrived, s))
        if len(self.streams) > 1 and self.wait > 0:
            self._timer = self.node.create_timer(max(self.wait / 4, 0.001), self._due)

    def unsubscribe(self) -> None:
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        for s in self.streams:
            s.images.unsubscribe()
            s.depth.unsubscribe()
            s.pending = None
        self._first = None

    def _arrived(self, stream: CameraStream, msg: Any) -> None:
        if stream.pending is not None:  # the camera outran the node: the newest frame wins
            stream.images.diag.stats.count("dropped_frames")
        stream.pending = msg
        if self._first is None:
            self._first = time.monotonic()
        if self.wait <= 0 or all(s.pending is not None for s in self.streams):
            self._send()

    def _due(self) -> None:
        if self._first is not None and time.monotonic() - self._first >= self.wait:
            self._send()

    def _send(self) -> None:
        batch = [(s, s.pending) for s in self.streams if s.pending is not None]
        for s in self.streams:
            s.pending = None
        self._first = None
        if batch:
            self.process(batch)

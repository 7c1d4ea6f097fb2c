"""An aligned depth image and the colour CameraInfo into a node: each hand's 3D position.

Depth images are kept for a moment by stamp and looked up when a colour frame's results are
published (after inference, so a depth image that arrives a few milliseconds after its colour
frame is still found); the newest CameraInfo gives the intrinsics. Every problem (no depth with
the frame's stamp, a depth image of another size, no CameraInfo, no valid pixels in a box) is
one log line (repeats counted), positions stay invalid, and the node goes on.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from ..core.depth import DepthConfig, Intrinsics, check_aligned, depth_metres, hand_position
from ..core.errors import ImageFormatError
from ..core.pipeline import Hand
from .convert import stamp_key
from .diagnostics import Diagnostics

#: depth and camera info as camera drivers publish them (sensor data: best effort), a few deep so
#: that a depth image waits for its colour frame
DEPTH_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
#: depth images kept by stamp
KEEP = 8


class DepthInput:
    """``depth_topic`` + ``camera_info_topic`` of a node with ``depth.enabled``."""

    def __init__(self, node: Any, values: dict[str, Any], diag: Diagnostics, config: DepthConfig) -> None:
        self.node, self.diag, self.config = node, diag, config
        self.enabled = bool(values.get("depth.enabled", False))
        self.depth_topic = str(values.get("depth_topic", ""))
        self.info_topic = str(values.get("camera_info_topic", ""))
        self._depth: OrderedDict[int, Any] = OrderedDict()
        self._info: Any = None
        self.subscriptions: list[Any] = []

    def subscribe(self) -> None:
        if not self.enabled:
            return
        self.subscriptions = [
            self.node.create_subscription(Image, self.depth_topic, self._on_depth, DEPTH_QOS),
            self.node.create_subscription(CameraInfo, self.info_topic, self._on_info, DEPTH_QOS),
        ]

    def unsubscribe(self) -> None:
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions = []

    def _on_depth(self, msg: Any) -> None:
        self._depth[stamp_key(msg.header.stamp)] = msg
        while len(self._depth) > KEEP:
            self._depth.popitem(last=False)

    def _on_info(self, msg: Any) -> None:
        self._info = msg

    def locate(self, header: Any, hands: list[Hand], size: tuple[int, int]) -> None:
        """Set each hand's ``position`` from the depth image with the colour frame's stamp
        (``size`` = the colour image's (width, height)); unusable input is reported once."""
        if not self.enabled or not hands:
            return
        current, problem = self._read(header, size)
        if current is None:
            self.diag.report("positions_invalid", f"hand positions invalid: {problem}")
            return
        depth, k = current
        for hand in hands:
            hand.position, why = hand_position(depth, hand.box, k, self.config)
            if hand.position is None:
                self.diag.report("positions_invalid", f"hand position invalid: {why}")
        self.diag.stats.count("positions", sum(h.position is not None for h in hands))

    def _read(self, header: Any, size: tuple[int, int]) -> tuple[tuple[Any, Intrinsics] | None, str]:
        """The frame's depth (metres) and intrinsics, or None and why not."""
        msg = self._depth.get(stamp_key(header.stamp))
        if msg is None:
            return None, f"no depth image on {self.depth_topic} with the colour frame's stamp"
        try:
            k = None if self._info is None else Intrinsics.from_k(self._info.k, self._info.width, self._info.height)
            why = check_aligned((int(msg.width), int(msg.height)), size, k)
            if why or k is None:
                return None, why
            return (depth_metres(msg.data, msg.encoding, int(msg.width), int(msg.height), int(msg.step)), k), ""
        except ImageFormatError as exc:
            return None, str(exc)

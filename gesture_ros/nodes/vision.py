"""Hands as ``vision_msgs/Detection2DArray``, the message RViz plugins, Isaac ROS,
ros_deep_learning and YOLO-based stacks speak, beside the package's own ``GestureArray``.

Off unless ``vision_msgs_topic`` names a topic, and only where ``vision_msgs`` is importable
(it is not on PyPI; a robot has it from apt). Targets the Humble-and-later layout (vision_msgs
4.x: ``bbox.center.position.x``, ``results[].hypothesis.class_id``); Foxy's (``center.x``,
``results[].id``) is refused with one warning.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ..core.pipeline import Hand

#: the class of a hand the classifier did not label (backend down, ROI too small)
HAND = "hand"


def detection2d_array(types: Any, header: Any, hands: list[Hand]) -> Any:
    """One ``Detection2D`` per hand, with the image's header: the box in pixels (centre and
    size), ``results[0]`` the gesture (label, confidence) when there is one, then the
    detector's hypothesis (its label, score); ``id`` the track id ("" when untracked)."""
    out = types.Detection2DArray()
    out.header = header
    for hand in hands:
        d = types.Detection2D()
        d.header = header
        x1, y1, x2, y2 = (float(v) for v in np.asarray(hand.box).reshape(4))
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        d.bbox.size_x, d.bbox.size_y = x2 - x1, y2 - y1
        hypotheses = [(hand.label or HAND, float(hand.score))]
        if hand.gesture is not None:
            hypotheses.insert(0, (hand.gesture.label, float(hand.gesture.confidence)))
        for class_id, score in hypotheses:
            r = types.ObjectHypothesisWithPose()
            r.hypothesis.class_id, r.hypothesis.score = class_id, score
            d.results.append(r)
        d.id = str(hand.track_id) if hand.track_id >= 0 else ""
        out.detections.append(d)
    return out


class VisionOutput:
    """The node's ``vision_msgs_topic`` publisher, or nothing (said once when asked for and
    impossible)."""

    def __init__(self, node: Any, qos: Any, topic: str | None = None) -> None:
        """``topic``: the node's ``vision_msgs_topic`` unless given (a camera's, in its namespace)."""
        self.types: Any = None
        self.publisher: Any = None
        topic = str(node.values.get("vision_msgs_topic", "")) if topic is None else topic
        if not topic:
            return
        try:  # optional: not a dependency of the package
            types = importlib.import_module("vision_msgs.msg")
        except ImportError:
            node.get_logger().warning(
                f"vision_msgs_topic is {topic!r} but vision_msgs is not installed "
                "(apt: ros-<distro>-vision-msgs): no Detection2DArray is published"
            )
            return
        if not hasattr(types.Pose2D(), "position"):
            node.get_logger().warning(
                "vision_msgs has the Foxy layout (Pose2D without position); gesture_ros publishes the "
                "Humble-and-later layout: no Detection2DArray is published"
            )
            return
        self.types = types
        create = getattr(node, "create_lifecycle_publisher", node.create_publisher)
        self.publisher = create(types.Detection2DArray, topic, qos)
        node.get_logger().info(f"hands also published as vision_msgs/Detection2DArray on {topic}")

    def pairs(self, header: Any, hands: list[Hand]) -> list[tuple[Any, Any]]:
        """(publisher, message) for the node's publish step; none when the output is off."""
        if self.publisher is None:
            return []
        return [(self.publisher, detection2d_array(self.types, header, hands))]

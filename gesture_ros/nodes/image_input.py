"""Images into a node: keep-last-N subscriptions, conversion with one report per bad image,
and exact-stamp pairing with another topic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from ..core.errors import ImageFormatError
from ..core.image import Image as Frame
from ..core.image import PixelOrder
from ..core.sync import ExactTimeSync
from .convert import image_from_msg, stamp_key
from .diagnostics import Diagnostics


def image_qos(depth: int = 1) -> QoSProfile:
    """Images: best effort, keep-last-``depth``."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)


#: Image publishers: best effort, keep-last-1 (a subscriber's ``image_queue_size`` sets its own queue).
IMAGE_QOS = image_qos(1)
#: Detections / gestures / events: reliable, a short history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class ImageInput:
    """The node's image topic (``image_topic``, raw or ``<topic>/compressed``)."""

    def __init__(self, node: Node, values: dict[str, Any], diag: Diagnostics) -> None:
        self.node = node
        self.topic = str(values["image_topic"])
        self.transport = str(values.get("image_transport", "raw"))
        self.queue_size = int(values.get("sync.queue_size", 10))
        self.image_queue = int(values["image_queue_size"])
        self.diag = diag
        #: what this input subscribed: dropped together by :meth:`unsubscribe` (a lifecycle
        #: node's deactivate)
        self.subscriptions: list[Any] = []

    def unsubscribe(self) -> None:
        """Stop taking input (images and their paired topic)."""
        for sub in self.subscriptions:
            self.node.destroy_subscription(sub)
        self.subscriptions.clear()

    def subscribe(self, callback: Callable[[Any], None]) -> None:
        """Images with keep-last-``image_queue_size``: frames that arrive while the node is busy
        wait, up to that many, so a detector frame that takes two camera periods does not cost the
        frames behind it (the cheap frames between detector runs catch up); past that, the oldest
        waiting frame is replaced. With 1 the node always works on the newest frame. Replaced
        frames are counted (``dropped_frames`` on diagnostics) from gaps in each camera's
        publication sequence."""
        last_seq: dict[bytes, int] = {}

        def on_image(msg: Any, info: Any) -> None:
            seq = info.get("publication_sequence_number") if isinstance(info, dict) else None
            gid = info.get("publisher_gid") if isinstance(info, dict) else None
            if seq and gid:
                key = bytes(gid.get("data", b"")) if isinstance(gid, dict) else bytes(gid)
                prev = last_seq.get(key)
                if prev is not None and seq > prev + 1:
                    self.diag.stats.count("dropped_frames", seq - prev - 1)
                if prev is None and len(last_seq) >= 16:  # cameras come and go: stay bounded
                    last_seq.pop(next(iter(last_seq)))
                last_seq[key] = seq
            callback(msg)

        if self.transport == "compressed":
            topic, msg_type = self.topic.rstrip("/") + "/compressed", CompressedImage
        else:
            topic, msg_type = self.topic, Image
        qos = image_qos(self.image_queue)
        self.subscriptions.append(self.node.create_subscription(msg_type, topic, on_image, qos))

    def accept(self, msg: Any, ready: bool) -> tuple[Frame, PixelOrder] | None:
        """Count an incoming image and return it, or None when the node has no working model
        (counted) or the image is rejected (reported)."""
        self.diag.stats.input()
        if not ready:
            self.diag.stats.count("frames_without_model")
            return None
        return self.frame(msg)

    def frame(self, msg: Any) -> tuple[Frame, PixelOrder] | None:
        """The image of a message, or None after reporting why it was rejected."""
        try:
            with self.diag.stats.timed("convert"):
                return image_from_msg(msg)
        except ImageFormatError as exc:
            self.diag.report("rejected_images", f"rejected image on {self.topic}: {exc}")
            return None

    def synced(self, msg_type: Any, topic: str, callback: Callable[[Any, Any], None]) -> ExactTimeSync[Any, Any]:
        """Call ``callback(image_msg, other_msg)`` for images and ``msg_type`` messages with the
        same stamp; unmatched messages are counted on diagnostics."""
        sync: ExactTimeSync[Any, Any] = ExactTimeSync(self.queue_size)
        stats = self.diag.stats

        def deliver(pair: tuple[Any, Any] | None) -> None:
            stats.set_counter("unmatched_images", sync.dropped_a)
            stats.set_counter("unmatched_inputs", sync.dropped_b)
            if pair is not None:
                callback(*pair)

        def on_image(msg: Any) -> None:
            stats.input()
            deliver(sync.add_a(stamp_key(msg.header.stamp), msg))

        self.subscribe(on_image)
        self.subscriptions.append(
            self.node.create_subscription(
                msg_type, topic, lambda m: deliver(sync.add_b(stamp_key(m.header.stamp), m)), RESULT_QOS
            )
        )
        return sync

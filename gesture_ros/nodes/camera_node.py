"""camera: frames from a device, file, folder, stream or GStreamer pipeline -> Image + CameraInfo.

Files and folders publish at ``camera.rate`` and end (or loop); a device that drops is reopened
every ``camera.reconnect_period`` seconds, and the node says so.
"""

from __future__ import annotations

import time

from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from ..core.errors import ConfigError
from ..core.image import Image as Frame
from ..core.sources import CaptureSource, FrameSource, open_source
from ..settings import CAMERA_PARAMS
from .base import IMAGE_QOS, GestureNode, spin_node
from .convert import image_to_msg
from .stage_runner import safe_publish


def camera_info_topic(image_topic: str) -> str:
    """ROS convention: <ns>/image_raw -> <ns>/camera_info."""
    ns = image_topic.rsplit("/", 1)[0] if "/" in image_topic else ""
    return f"{ns}/camera_info" if ns else "camera_info"


class CameraNode(GestureNode):
    def __init__(self) -> None:
        super().__init__("camera", ("image_topic", "gestures_topic", *CAMERA_PARAMS))
        v = self.values
        self.pub = self.create_publisher(Image, v["image_topic"], IMAGE_QOS)
        self.info_pub = self.create_publisher(CameraInfo, camera_info_topic(v["image_topic"]), IMAGE_QOS)
        self.frames = 0
        self.source: FrameSource | None = None
        #: a file that is missing or cannot be decoded: said once, ERROR on diagnostics, nothing
        #: published, the node stays up (a file does not heal; a device is retried instead)
        self._broken = ""
        try:
            self.source = open_source(v["camera.source"], int(v["camera.width"]), int(v["camera.height"]))
        except ConfigError as exc:
            self._broken = str(exc)
        else:
            self.get_logger().info(f"camera source: {self.source.description}")
            if isinstance(self.source, CaptureSource) and self.source.cap is None:
                if self.source.finite:
                    self._broken = (
                        f"cannot open {self.source.description}: corrupt, truncated or a codec OpenCV cannot decode"
                    )
                else:
                    self.diag.state = (2, f"cannot open {self.source.description}")
                    self.get_logger().error(
                        f"cannot open {self.source.description}; retrying every {v['camera.reconnect_period']} s"
                    )
        if self._broken:
            self.diag.state = (2, self._broken)
            self.get_logger().error(f"{self._broken}; publishing nothing")
        self._start = time.monotonic() + float(v["camera.start_delay"])
        self._next_reconnect = 0.0
        self._started = False
        self._matched_at: float | None = None
        self.timer = self.create_timer(1.0 / float(v["camera.rate"]), self._tick)

    def _ready(self) -> bool:
        """Start after start_delay, or as soon as the awaited subscribers are there."""
        if self._started:
            return True
        wait = int(self.values["camera.wait_for_subscribers"])
        delay_over = time.monotonic() >= self._start
        if wait > 0:
            now = time.monotonic()
            if self._matched_at is None and self.pub.get_subscription_count() >= wait and self._echo_ready():
                self._matched_at = now
            # a writer sees its readers before they see it: give them a moment to match back
            settled = self._matched_at is not None and now - self._matched_at >= 1.0
            self._started = settled or (float(self.values["camera.start_delay"]) > 0 and delay_over)
        else:
            self._started = delay_over
        return self._started

    def _echo_ready(self) -> bool:
        """The console's subscription is known (``camera.wait_for_echo``): under load its process
        can start seconds after the pipeline node, and the first frames' gestures would be lost."""
        if not self.values["camera.wait_for_echo"]:
            return True
        return self.count_subscribers(str(self.values["gestures_topic"])) >= 1

    def _tick(self) -> None:
        if self.source is None or self._broken or not self._ready():
            return
        frame = self.source.read()
        if frame is None:
            frame = self._handle_missing_frame()
            if frame is None:
                return
        self.diag.stats.input()
        header_stamp = self.get_clock().now().to_msg()
        msg = image_to_msg(frame, self._header(header_stamp))
        if safe_publish(self.diag, self.pub, msg):
            self.frames += 1
            self.diag.stats.output(0.0)
        info = CameraInfo()
        info.header = msg.header
        info.height, info.width = msg.height, msg.width
        info.distortion_model = "plumb_bob"
        safe_publish(self.diag, self.info_pub, info)

    def _header(self, stamp: Time) -> Header:
        return Header(stamp=stamp, frame_id=str(self.values["camera.frame_id"]))

    def _handle_missing_frame(self) -> Frame | None:
        src = self.source
        assert src is not None
        if src.finite:
            if self.values["camera.loop"] and src.rewind():
                return src.read()
            self.get_logger().info(f"end of {src.description} after {self.frames} frames")
            self.timer.cancel()
            self.finished = True
            return None
        # a device or stream that dropped: reopen it at the reconnect period
        now = time.monotonic()
        if now < self._next_reconnect:
            return None
        self._next_reconnect = now + float(self.values["camera.reconnect_period"])
        self.diag.state = (2, f"{src.description} delivers no frames")
        self.diag.report("camera_dropped", f"{src.description} delivers no frames; reconnecting")
        if isinstance(src, CaptureSource) and src.open():
            self.diag.state = (0, "ok")
            self.get_logger().info(f"reconnected to {src.description}")
            return src.read()
        return None

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


def main(args: list[str] | None = None) -> None:
    spin_node(CameraNode, args)


if __name__ == "__main__":
    main()

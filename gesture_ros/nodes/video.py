"""Annotated frames to a video file (the overlay and fused nodes' optional output)."""

from __future__ import annotations

from pathlib import Path

import cv2
from sensor_msgs.msg import Image as ImageMsg
from std_msgs.msg import Header

from ..core.image import Image
from .base import IMAGE_QOS, GestureNode
from .convert import image_to_msg
from .stage_runner import safe_publish


class VideoSink:
    """Opens the writer on the first frame (its size is known then); MJPG for .avi, mp4v otherwise."""

    def __init__(self, path: str, fps: float, node: GestureNode) -> None:
        self.path = Path(path)
        self.fps = fps
        self.node = node
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame: Image) -> None:
        size = (int(frame.shape[1]), int(frame.shape[0]))
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter.fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, size)
            if not self._writer.isOpened():
                self.node.diag.report("video_errors", f"cannot open video file {self.path} for writing")
                self._writer = None
                return
            self._size = size
            self.node.get_logger().info(f"writing annotated video to {self.path}")
        if size != self._size:
            frame = cv2.resize(frame, self._size)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            self.node.get_logger().info(f"wrote {self.frames} frames to {self.path}")


class OverlayOutput:
    """Where annotated frames go, from the overlay.* parameters: the overlay topic and/or a
    video file. Shared by the overlay node and the fused node."""

    def __init__(self, node: GestureNode) -> None:
        v = node.values
        self.node = node
        self.pub = node.create_publisher(ImageMsg, v["overlay_topic"], IMAGE_QOS) if v["overlay.publish"] else None
        self.video = (
            VideoSink(v["overlay.video_path"], float(v["overlay.video_fps"]), node) if v["overlay.video_path"] else None
        )

    @property
    def wanted(self) -> bool:
        """False when nobody takes annotated frames: no video file, and nobody subscribed to the
        overlay topic (then do not draw them). Drawing and a full-size image message cost several
        ms a frame at 1280x720; image_transport's publishers are lazy the same way."""
        return self.video is not None or (self.pub is not None and self.pub.get_subscription_count() > 0)

    def emit(self, frame: Image, header: Header) -> None:
        if self.pub is not None and self.pub.get_subscription_count() > 0:
            safe_publish(self.node.diag, self.pub, image_to_msg(frame, header))
        if self.video is not None:
            self.video.write(frame)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()

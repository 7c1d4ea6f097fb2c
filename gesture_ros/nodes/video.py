"""Annotated frames to a video file (the overlay and fused nodes' optional output)."""

from __future__ import annotations

from pathlib import Path

import cv2

from ..core.image import Image
from .base import BaseNode


class VideoSink:
    """Opens the writer on the first frame (its size is known then); MJPG for .avi, mp4v otherwise."""

    def __init__(self, path: str, fps: float, node: BaseNode) -> None:
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
                self.node.report("video_errors", f"cannot open video file {self.path} for writing")
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

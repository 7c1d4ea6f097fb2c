"""Frame sources for the camera node: V4L2 devices, video files, image folders, RTSP/HTTP
streams and GStreamer pipelines (the Jetson CSI camera case), behind one ``read()``."""

from __future__ import annotations

import abc
from pathlib import Path

import cv2

from .errors import ConfigError
from .image import Image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class FrameSource(abc.ABC):
    """Where the camera node's frames come from."""

    #: files and folders end; devices and streams can drop and come back
    finite: bool = False
    description: str = ""

    @abc.abstractmethod
    def read(self) -> Image | None:
        """The next BGR frame, or None at the end of a file / when a device fails."""

    def rewind(self) -> bool:
        """Start again from the first frame; False when the source cannot."""
        return False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device or file."""


class ImageFolderSource(FrameSource):
    """The images of a folder in name order (unreadable ones are skipped and counted)."""

    finite = True

    def __init__(self, folder: Path) -> None:
        self.files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ConfigError(f"image folder {folder} has no {'/'.join(IMAGE_SUFFIXES)} files")
        self.index = 0
        self.description = f"image folder {folder} ({len(self.files)} images)"
        self.unreadable: list[str] = []

    def read(self) -> Image | None:
        """The next readable image, or None at the end."""
        while self.index < len(self.files):
            path = self.files[self.index]
            self.index += 1
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is not None:
                return img
            self.unreadable.append(str(path))
        return None

    def rewind(self) -> bool:
        """Back to the first image."""
        self.index = 0
        return True


class CaptureSource(FrameSource):
    """cv2.VideoCapture over an index, a file, a URL or a GStreamer pipeline."""

    def __init__(self, source: str, width: int = 0, height: int = 0) -> None:
        self.source = source
        self.width, self.height = width, height
        self.finite = Path(source).is_file()
        kind = "video file" if self.finite else "GStreamer pipeline" if "!" in source else "device/stream"
        self.description = f"{kind} {source}"
        self.cap: cv2.VideoCapture | None = None
        self.open()

    def open(self) -> bool:
        """(Re)open the device, file, stream or pipeline; False when it cannot be opened."""
        if self.cap is not None:
            self.cap.release()
        src = self.source
        if src.isdigit():
            cap = cv2.VideoCapture(int(src), cv2.CAP_V4L2)
        elif "!" in src:
            cap = cv2.VideoCapture(src, cv2.CAP_GSTREAMER)
        else:
            cap = cv2.VideoCapture(src)
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        self.cap = cap if cap.isOpened() else None
        return self.cap is not None

    def read(self) -> Image | None:
        """The next frame, or None (end of a file, or a device that delivers nothing)."""
        if self.cap is None:
            return None
        ok, frame = self.cap.read()
        return frame if ok and frame is not None else None

    def rewind(self) -> bool:
        """Back to the first frame of a file; devices and streams cannot."""
        if self.cap is not None and self.finite:
            return bool(self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0))
        return False

    def close(self) -> None:
        """Release the capture."""
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def open_source(source: str, width: int = 0, height: int = 0) -> FrameSource:
    """Pick the source type from the string; a missing file or folder is a ConfigError."""
    p = Path(source).expanduser()
    if p.is_dir():
        return ImageFolderSource(p)
    looks_like_path = ("/" in source or "." in source) and "://" not in source and "!" not in source
    if looks_like_path and not p.exists():
        raise ConfigError(f"camera source not found: {source}")
    return CaptureSource(str(p) if looks_like_path else source, width, height)

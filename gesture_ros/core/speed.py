"""Less work per frame where the frame allows it: detector skipping and gesture reuse.

Two levers, both off by default and both measured (``make bench``'s speed-mode table: frames per
second, CPU per frame, and agreement with the every-frame pipeline on real video):

- ``interval``: the detector runs on every (interval + 1)-th frame, as DeepStream's nvinfer
  ``interval`` does; :class:`~.boxflow.BoxFlow` carries the boxes across the frames in between, and
  the detector runs at once when a box is lost.
- ``reuse_frames``: a tracked hand keeps its gesture for up to that many frames while its box stays
  where it was classified (IoU >= ``reuse_iou``); a hand that moved, or a new track, is
  classified again. Gesture events need several agreeing frames anyway (``events.debounce_frames``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import iou_matrix
from .boxflow import BoxFlow, FlowConfig
from .classify import GestureResult
from .detectnet import Detections
from .image import Image, PixelOrder


@dataclass(frozen=True)
class IntervalConfig:
    """Frames the detector skips between runs (``detector.interval``; 0: every frame)."""

    interval: int = 0


@dataclass(frozen=True)
class ReuseConfig:
    """Gesture reuse (``classifier.reuse_frames``, ``classifier.reuse_iou``; 0 frames: off)."""

    frames: int = 0
    iou: float = 0.7


class FrameSkipper:
    """Whether the detector runs on this frame, and the carried detections when it does not."""

    def __init__(self, config: IntervalConfig, flow: FlowConfig | None = None) -> None:
        self.config = config
        self.flow = BoxFlow(flow)
        self._last: Detections | None = None
        self._since = 0
        #: frames the detector ran on / frames whose boxes were carried (for reports)
        self.detected = 0
        self.carried = 0

    def carry(self, image: Image, order: PixelOrder) -> Detections | None:
        """The last detections moved to this frame, or None when the detector must run: the
        interval is over, there was no detection yet, or a box was lost."""
        if self._last is None or self._since >= self.config.interval:
            return None
        boxes, ok = self.flow.move(image, order, self._last.boxes)
        if not ok.all():
            return None
        self._since += 1
        self.carried += 1
        self._last = Detections(boxes, self._last.scores, self._last.class_ids)
        return self._last

    def detections(self, image: Image, order: PixelOrder, dets: Detections) -> None:
        """The detector ran on this frame: its boxes are the new reference."""
        self.detected += 1
        self._since = 0
        self._last = dets
        if self.config.interval > 0:
            self.flow.reset(image, order)


@dataclass
class _Classified:
    result: GestureResult
    box: np.ndarray
    age: int = 0


class GestureMemory:
    """The last gesture of each track, reused while its box has not moved much."""

    def __init__(self, config: ReuseConfig) -> None:
        self.config = config
        self._memory: dict[int, _Classified] = {}
        #: gestures classified / reused (for reports)
        self.classified = 0
        self.reused = 0

    def reuse(self, track_ids: list[int], boxes: list[np.ndarray]) -> list[GestureResult | None]:
        """For each hand: its track's remembered gesture when it may be reused, else None."""
        out: list[GestureResult | None] = []
        for tid, box in zip(track_ids, boxes, strict=True):
            m = self._memory.get(tid) if tid >= 0 else None
            usable = (
                m is not None
                and m.age < self.config.frames
                and float(iou_matrix(box[None], m.box[None])[0, 0]) >= self.config.iou
            )
            if usable and m is not None:
                m.age += 1
                self.reused += 1
                out.append(m.result)
            else:
                out.append(None)
        return out

    def remember(self, track_ids: list[int], boxes: list[np.ndarray], results: list[GestureResult | None]) -> None:
        """Gestures classified on this frame (None: not classified), and forget ended tracks'."""
        alive = set(track_ids)
        for tid in [t for t in self._memory if t not in alive]:
            del self._memory[tid]
        for tid, box, r in zip(track_ids, boxes, results, strict=True):
            if tid >= 0 and r is not None:
                self._memory[tid] = _Classified(r, np.array(box, np.float32))
                self.classified += 1

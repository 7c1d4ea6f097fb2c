"""Less work per frame where the frame allows it: detector skipping and gesture reuse.

Two levers, both on by default (the detector on every 5th frame, a gesture kept up to 5 frames;
``detector.interval:=0 classifier.reuse_frames:=0`` gives every frame) and both measured
(``make bench``'s speed-mode table: frames per second, CPU per frame, and agreement with the
every-frame pipeline on real video; benchmarks/README.md says why this default):

- ``interval``: the detector runs on every (interval + 1)-th frame, as DeepStream's nvinfer
  ``interval`` does; :class:`~.boxflow.BoxFlow` carries the boxes across the frames in between, and
  the detector runs at once when a box is lost.
- ``reuse_frames``: a tracked hand keeps its gesture for up to that many frames while its box stays
  where it was classified (IoU >= ``reuse_iou``) and its crop looks the same (``reuse_change``: a
  hand that changes its gesture in place, or a new scene at the same place, is not the same crop);
  a hand that moved or changed, or a new track, is classified again. Gesture events need several
  agreeing frames anyway (``events.debounce_frames``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from .boxes import iou_matrix
from .boxflow import BoxFlow, FlowConfig
from .classify import GestureResult
from .detectnet import Detections
from .image import Image, PixelOrder
from .roi import pixel_region


@dataclass(frozen=True)
class IntervalConfig:
    """Frames the detector skips between runs (``detector.interval``; 0: every frame)."""

    interval: int = 4


@dataclass(frozen=True)
class ReuseConfig:
    """Gesture reuse (``classifier.reuse_frames``, ``classifier.reuse_iou``,
    ``classifier.reuse_change``; 0 frames: off)."""

    frames: int = 5
    iou: float = 0.7
    #: mean absolute difference (0-255) of the crop's :data:`LOOK_SIZE` thumbnail from the one
    #: classified, above which the hand is classified again (0: boxes alone decide)
    change: float = 12.0


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

    def restart(self) -> None:
        """Forget the carried detections, so the detector runs on the next frame (its settings
        changed: boxes found under the old ones must not be carried on)."""
        self._last = None

    def detections(self, image: Image, order: PixelOrder, dets: Detections) -> None:
        """The detector ran on this frame: its boxes are the new reference."""
        self.detected += 1
        self._since = 0
        self._last = dets
        if self.config.interval > 0:
            self.flow.reset(image, order)


#: side of the colour thumbnail a crop is compared by (pixels): enough for a fist that opens or a
#: new colour, too coarse for noise
LOOK_SIZE = 8


def look(image: Image, roi: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """A tiny thumbnail of the frame's pixels under ``roi`` (its crop), to tell whether the crop
    changed since its gesture was classified: one area resize of a (strided) view, no copy of the
    crop."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = pixel_region(roi)
    x1, y1 = min(max(x1, 0), w - 1), min(max(y1, 0), h - 1)
    x2, y2 = min(max(x2, x1 + 1), w), min(max(y2, y1 + 1), h)
    step = max(1, min(y2 - y1, x2 - x1) // (4 * LOOK_SIZE))  # every n-th pixel of a big crop: 4x faster
    small = cv2.resize(image[y1:y2:step, x1:x2:step], (LOOK_SIZE, LOOK_SIZE), interpolation=cv2.INTER_AREA)
    return small.reshape(LOOK_SIZE, LOOK_SIZE, -1)[..., :3].astype(np.int16)  # alpha left out


@dataclass
class _Classified:
    result: GestureResult
    box: np.ndarray
    look: np.ndarray | None = None
    age: int = 0


class GestureMemory:
    """The last gesture of each track, reused while its box has not moved much."""

    def __init__(self, config: ReuseConfig) -> None:
        self.config = config
        self._memory: dict[int, _Classified] = {}
        #: gestures classified / reused (for reports)
        self.classified = 0
        self.reused = 0

    def reuse(
        self, track_ids: list[int], boxes: list[np.ndarray], looks: list[np.ndarray | None] | None = None
    ) -> list[GestureResult | None]:
        """For each hand: its track's remembered gesture when it may be reused, else None.
        ``looks``: each hand's crop thumbnail (:func:`look`), compared with the classified one's."""
        out: list[GestureResult | None] = []
        looks = looks if looks is not None else [None] * len(track_ids)
        for tid, box, seen in zip(track_ids, boxes, looks, strict=True):
            m = self._memory.get(tid) if tid >= 0 else None
            usable = (
                m is not None
                and m.age < self.config.frames
                and float(iou_matrix(box[None], m.box[None])[0, 0]) >= self.config.iou
                and self._same_look(m.look, seen)
            )
            if usable and m is not None:
                m.age += 1
                self.reused += 1
                out.append(m.result)
            else:
                out.append(None)
        return out

    def _same_look(self, then: np.ndarray | None, now: np.ndarray | None) -> bool:
        """The crop changed less than ``change`` since it was classified (0: not checked)."""
        if self.config.change <= 0:
            return True
        if then is None or now is None:  # no thumbnails given (a caller without the frame): both or neither
            return then is None and now is None
        return then.shape == now.shape and float(np.abs(now - then).mean()) <= self.config.change

    def remember(
        self,
        track_ids: list[int],
        boxes: list[np.ndarray],
        results: list[GestureResult | None],
        looks: list[np.ndarray | None] | None = None,
    ) -> None:
        """Gestures classified on this frame (None: not classified), and forget ended tracks'."""
        alive = set(track_ids)
        for tid in [t for t in self._memory if t not in alive]:
            del self._memory[tid]
        looks = looks if looks is not None else [None] * len(track_ids)
        for tid, box, r, seen in zip(track_ids, boxes, results, looks, strict=True):
            if tid >= 0 and r is not None:
                self._memory[tid] = _Classified(r, np.array(box, np.float32), seen)
                self.classified += 1

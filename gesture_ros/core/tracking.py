"""A small IoU tracker and a gesture debouncer.

Robots act on gesture *changes*, not on every noisy per-frame label: the tracker gives each hand
an id across frames and the debouncer reports a change only after ``frames`` agreeing frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .boxes import iou_matrix


@dataclass(frozen=True)
class TrackingConfig:
    """Track ids across frames and the gesture events made from them (``tracking.*``, ``events.*``)."""

    enabled: bool = True
    iou_threshold: float = 0.3
    max_missed: int = 5
    debounce_frames: int = 3

    def __post_init__(self) -> None:
        if self.debounce_frames < 1:
            raise ValueError("debounce frames must be >= 1")


@dataclass
class _Track:
    track_id: int
    box: npt.NDArray[np.float32]
    missed: int = 0


class IouTracker:
    """Greedy best-IoU association; a track dies after ``max_missed`` frames without a match."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 5) -> None:
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self._tracks: list[_Track] = []
        self._next_id = 0

    def update(self, boxes: npt.ArrayLike) -> tuple[npt.NDArray[np.int32], list[int]]:
        """Return the track id of each box and the ids of tracks that just ended."""
        b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        ids = np.full(b.shape[0], -1, dtype=np.int32)
        if self._tracks and b.shape[0]:
            iou = iou_matrix(np.stack([t.box for t in self._tracks]), b)
            while True:
                ti, di = np.unravel_index(int(np.argmax(iou)), iou.shape)
                if iou[ti, di] < self.iou_threshold or iou[ti, di] <= 0:
                    break
                track = self._tracks[ti]
                track.box, track.missed = b[di].copy(), -1
                ids[di] = track.track_id
                iou[ti, :] = -1
                iou[:, di] = -1
        for i in np.nonzero(ids < 0)[0]:
            self._tracks.append(_Track(self._next_id, b[i].copy(), -1))
            ids[i] = self._next_id
            self._next_id += 1
        ended: list[int] = []
        alive: list[_Track] = []
        for t in self._tracks:
            t.missed += 1
            if t.missed > self.max_missed:
                ended.append(t.track_id)
            else:
                alive.append(t)
        self._tracks = alive
        return ids, ended

    def reset(self) -> None:
        """Forget every track (ids go on counting)."""
        self._tracks.clear()


@dataclass(frozen=True)
class GestureChange:
    """A tracked hand's debounced gesture changed from ``previous`` ('' at first) to ``current``."""

    track_id: int
    previous: str
    current: str


@dataclass
class _History:
    stable: str = ""
    candidate: str = ""
    count: int = 0
    extra: dict[str, int] = field(default_factory=dict)


class Debouncer:
    """Reports a track's gesture once it has been the same for ``frames`` consecutive frames."""

    def __init__(self, frames: int = 3) -> None:
        if frames < 1:
            raise ValueError("debounce frames must be >= 1")
        self.frames = frames
        self._hist: dict[int, _History] = {}

    def update(self, track_ids: list[int], labels: list[str], ended: list[int] | None = None) -> list[GestureChange]:
        """This frame's labels per track id; the changes that became stable. ``ended`` tracks are forgotten."""
        changes: list[GestureChange] = []
        for tid, label in zip(track_ids, labels, strict=True):
            h = self._hist.setdefault(tid, _History())
            if label == h.candidate:
                h.count += 1
            else:
                h.candidate, h.count = label, 1
            if h.count >= self.frames and h.candidate != h.stable and h.candidate:
                changes.append(GestureChange(tid, h.stable, h.candidate))
                h.stable = h.candidate
        for tid in ended or []:
            self._hist.pop(tid, None)
        return changes


class HandTracking:
    """The tracker and the debouncer of one image stream, configured by one :class:`TrackingConfig`.

    :meth:`configure` applies a new configuration at runtime: thresholds change in place (track
    ids and gesture histories go on), off drops both, on again starts fresh ones. ``events``
    False keeps track ids without gesture events (a pipeline without a classifier).
    """

    def __init__(self, config: TrackingConfig, events: bool = True) -> None:
        self.events = events
        self.config = config
        self.tracker: IouTracker | None = None
        self.debouncer: Debouncer | None = None
        self.configure(config)

    def configure(self, config: TrackingConfig) -> None:
        """Apply ``config``, keeping the tracks when tracking stays on."""
        self.config = config
        if not config.enabled:
            self.tracker = self.debouncer = None
            return
        if self.tracker is None:
            self.tracker = IouTracker(config.iou_threshold, config.max_missed)
        self.tracker.iou_threshold, self.tracker.max_missed = config.iou_threshold, config.max_missed
        if self.events:
            if self.debouncer is None:
                self.debouncer = Debouncer(config.debounce_frames)
            self.debouncer.frames = config.debounce_frames

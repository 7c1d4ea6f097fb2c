"""Motion gestures from the tracks: swipes (left, right, up, down) and a wave.

A static classifier sees one crop; a swipe is a track's box centre moving over time. Every
threshold is in hand sizes (the geometric mean of the box's width and height, median over the
window), so a hand 4 m away and one 0.5 m away make the same decision for the same gesture.
Directions are in the image: ``swipe_left`` is the hand moving towards smaller x (a person facing
a camera whose image is not mirrored swipes to their own right).

A hand that is only arriving is not gesturing: raised into view from below, it crosses the image
as fast as a swipe. So a track's positions count only once its box has been clear of the image
border for ``settle`` seconds (a new track, or one that touched the border, starts over); boxes
at the border are truncated anyway, their centres move without the hand moving.

Pure arrays and numbers: :class:`MotionDetector` is fed (time, track id, box) per frame by the
nodes, the bench and the tests alike.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SWIPES = ("swipe_left", "swipe_right", "swipe_up", "swipe_down")
WAVE = "wave"
MOTIONS = (*SWIPES, WAVE)


@dataclass(frozen=True)
class MotionConfig:
    """The motion-gesture thresholds (``motion.*``); all distances in hand sizes."""

    enabled: bool = False
    #: seconds of each track's history that a gesture must fit in
    window: float = 1.5
    #: a swipe travels at least this far along its axis ...
    swipe_distance: float = 1.5
    #: ... at least this fast on average (hand sizes per second) ...
    swipe_speed: float = 2.0
    #: ... and this many times further along its axis than across it
    axis_ratio: float = 2.0
    #: a wave reverses its horizontal direction this many times ...
    wave_reversals: int = 3
    #: ... each swing at least this wide
    wave_amplitude: float = 0.6
    #: seconds after a motion gesture during which that track fires no other
    cooldown: float = 1.0
    #: seconds a hand must be fully in view (clear of the border) before its motion counts
    settle: float = 0.5

    def __post_init__(self) -> None:
        if self.settle < 0 or self.cooldown < 0:
            raise ValueError("motion settle and cooldown must be >= 0")
        if self.window <= 0 or self.swipe_distance <= 0 or self.wave_amplitude <= 0:
            raise ValueError("motion window, swipe distance and wave amplitude must be > 0")
        if self.axis_ratio < 1.0:
            raise ValueError("motion axis ratio must be >= 1")
        if self.wave_reversals < 1:
            raise ValueError("motion wave reversals must be >= 1")


@dataclass(frozen=True)
class MotionEvent:
    """One motion gesture of one track, at time ``t`` (seconds, the frame's stamp)."""

    track_id: int
    motion: str
    t: float


@dataclass
class _Sample:
    t: float
    x: float
    y: float
    size: float


class MotionDetector:
    """Per-track histories of box centres and the motion gestures they make.

    :meth:`update` takes one frame: its stamp and the tracked boxes (track id -> x1, y1, x2, y2
    in pixels) and returns the gestures completed on that frame. Tracks that stop appearing are
    forgotten after ``window`` seconds. A new :class:`MotionConfig` applies on the next frame.
    """

    def __init__(self, config: MotionConfig | None = None) -> None:
        self.config = config or MotionConfig()
        self._hist: dict[int, deque[_Sample]] = {}
        self._quiet_until: dict[int, float] = {}
        self._last_seen: dict[int, float] = {}
        self._inside_since: dict[int, float] = {}
        #: motion gestures fired so far, by name (for diagnostics and the bench)
        self.fired: dict[str, int] = dict.fromkeys(MOTIONS, 0)

    def reset(self) -> None:
        """Forget every track (a stream restarted or jumped back in time)."""
        self._hist.clear()
        self._quiet_until.clear()
        self._last_seen.clear()
        self._inside_since.clear()

    def update(
        self,
        t: float,
        boxes: Mapping[int, npt.ArrayLike],
        image_size: tuple[int, int] | None = None,
    ) -> list[MotionEvent]:
        """Add this frame's boxes (``image_size`` = (width, height) to leave out boxes at the
        border) and return the motion gestures that completed."""
        cfg = self.config
        if not cfg.enabled:
            if self._hist:
                self.reset()
            return []
        if any(t < seen for seen in self._last_seen.values()):
            self.reset()  # time went backwards: a looped file or a replayed bag
        events: list[MotionEvent] = []
        for tid, raw in boxes.items():
            if tid < 0:
                continue  # untracked hands have no history
            x1, y1, x2, y2 = (float(v) for v in np.asarray(raw, dtype=np.float64).reshape(4))
            w, h = x2 - x1, y2 - y1
            self._last_seen[tid] = t
            if w <= 1 or h <= 1 or (image_size is not None and _at_border(x1, y1, x2, y2, image_size)):
                self._inside_since.pop(tid, None)  # arriving or leaving: start over once clear
                self._hist.pop(tid, None)
                continue
            if t - self._inside_since.setdefault(tid, t) < cfg.settle:
                continue
            if t < self._quiet_until.get(tid, -np.inf):
                continue  # after a gesture: what the hand does meanwhile is not the start of another
            hist = self._hist.setdefault(tid, deque())
            hist.append(_Sample(t, (x1 + x2) / 2, (y1 + y2) / 2, float(np.sqrt(w * h))))
            while hist and hist[0].t < t - cfg.window:
                hist.popleft()
            motion = _swipe(hist, cfg) or _wave(hist, cfg)
            if motion:
                events.append(MotionEvent(tid, motion, t))
                self.fired[motion] += 1
                hist.clear()
                self._quiet_until[tid] = t + cfg.cooldown
        for tid in [k for k, seen in self._last_seen.items() if seen < t - max(cfg.window, cfg.cooldown)]:
            del self._last_seen[tid]
            self._hist.pop(tid, None)
            self._quiet_until.pop(tid, None)
            self._inside_since.pop(tid, None)
        return events


def _x(s: _Sample) -> float:
    return s.x


def _at_border(x1: float, y1: float, x2: float, y2: float, size: tuple[int, int], margin: float = 0.01) -> bool:
    w, h = size
    mx, my = margin * w, margin * h
    return x1 <= mx or y1 <= my or x2 >= w - 1 - mx or y2 >= h - 1 - my


def _swipe(hist: deque[_Sample], cfg: MotionConfig) -> str | None:
    """A swipe ending now: from some earlier sample, far enough, fast enough, along one axis,
    and without turning back on the way (travelled path at most 1.5x the net displacement)."""
    if len(hist) < 3:
        return None
    samples = list(hist)
    end = samples[-1]
    scale = float(np.median([s.size for s in samples]))
    # travelled path from sample i to now, per axis: total - cumulative[i] (one pass, not one per start)
    paths = []
    for coords in (np.array([s.x for s in samples]), np.array([s.y for s in samples])):
        cum = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(coords)))])
        paths.append(cum[-1] - cum)
    for i, start in enumerate(samples[:-2]):
        dt = end.t - start.t
        if dt <= 0:
            continue
        dx, dy = end.x - start.x, end.y - start.y
        for along, across, path_of, names in ((dx, dy, paths[0], ("swipe_left", "swipe_right")),
                                              (dy, dx, paths[1], ("swipe_up", "swipe_down"))):  # fmt: skip
            dist = abs(along)
            if dist < cfg.swipe_distance * scale or dist < cfg.axis_ratio * abs(across):
                continue
            if dist / dt < cfg.swipe_speed * scale:
                continue
            if float(path_of[i]) <= 1.5 * dist:
                return names[1] if along > 0 else names[0]
    return None


#: a wave's swing lasts at least this long (s): a hand waves at up to ~5 Hz; detector jitter
#: flips direction from one frame to the next
MIN_SWING_S = 0.1


def _wave(hist: deque[_Sample], cfg: MotionConfig) -> str | None:
    """A wave: the horizontal position reverses ``wave_reversals`` times, each swing at least
    ``wave_amplitude`` hand sizes wide and :data:`MIN_SWING_S` long, while the hand stays
    roughly where it is vertically."""
    if len(hist) < 2 * cfg.wave_reversals:
        return None
    samples = list(hist)
    scale = float(np.median([s.size for s in samples]))
    amp = cfg.wave_amplitude * scale
    ys = [s.y for s in samples]
    if max(ys) - min(ys) > 2.0 * scale:
        return None
    reversals, direction = 0, 0
    lo = hi = extreme = samples[0]
    turned = samples[0].t  # when the current swing started
    for s in samples[1:]:
        if direction == 0:  # the first swing: from the lowest or highest point so far
            lo, hi = min(lo, s, key=_x), max(hi, s, key=_x)
            if s.x - lo.x >= amp or hi.x - s.x >= amp:
                direction, extreme, turned = (1, s, lo.t) if s.x - lo.x >= amp else (-1, s, hi.t)
        elif (s.x - extreme.x) * direction > 0:
            extreme = s  # still swinging the same way
        elif abs(s.x - extreme.x) >= amp and extreme.t - turned >= MIN_SWING_S:
            reversals, direction, turned, extreme = reversals + 1, -direction, extreme.t, s
    return WAVE if reversals >= cfg.wave_reversals else None

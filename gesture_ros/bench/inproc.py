"""Raw inference and the core pipeline in this process (no ROS), measured interleaved.

Raw inference is the detector and the classifier alone, on the pipeline's own backends (same
sessions, same settings), on the frames where the core pass runs them and with the batch each
frame really needs (its crops classified): the limit for these models in this speed mode on this
machine. The core pipeline adds everything else: the zero-copy view of the message buffer,
pre-processing, decoding, clustering, ROIs, cropping, tracking, carrying boxes between detector
runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.image import image_view
from ..core.pipeline import GesturePipeline, Timings


@dataclass
class Frame:
    """A frame as a camera message carries it, and what the pipeline's models run on it in the
    speed mode benchmarked: whether the detector runs, how many crops the classifier gets."""

    data: bytes
    width: int
    height: int
    hands: int = 0
    detect: bool = True


def as_messages(images: list[Any]) -> list[Frame]:
    return [Frame(np.ascontiguousarray(im).tobytes(), im.shape[1], im.shape[0]) for im in images]


def schedule(pipe: GesturePipeline, frames: list[Frame]) -> None:
    """Record what the models run on each frame in one pass of ``pipe`` (give it fresh state, as
    every core pass gets): the detector's runs (every frame, or every ``interval + 1``-th with the
    boxes carried between) and the crops classified (fewer where gestures are reused). The raw pass
    replays exactly this, so it stays the limit of the pass it is compared with."""
    cls = pipe.classifier
    for f in frames:
        ran, crops = pipe.skipper.detected, cls.crops if cls is not None else 0
        pipe.process(*image_view("bgr8", f.height, f.width, f.width * 3, f.data))
        f.detect = pipe.skipper.detected > ran
        f.hands = cls.crops - crops if cls is not None else 0


def raw_pass(pipe: GesturePipeline, frames: list[Frame]) -> list[float]:
    """ms per frame: the detector on a filled input tensor where the core pass runs it + the
    classifier on as many crops as the core pass classifies (:func:`schedule`)."""
    det, cls = pipe.detector, pipe.classifier
    out = []
    for f in frames:
        det_feed = {det.spec.input.name: det.preprocessor(f.width, f.height).batch(1)}  # the core's input size
        t0 = time.perf_counter()
        if f.detect:
            det.backend.infer(det_feed)
        if cls is not None and f.hands:
            cls.pre.ensure_batch(f.hands)
            cls.backend.infer({cls.spec.input.name: cls.pre.batch(f.hands)})
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def core_pass(pipe: GesturePipeline, frames: list[Frame], stages: dict[str, list[float]] | None = None) -> list[float]:
    """ms per frame from the message buffer to the frame's result (what the fused node runs)."""
    out = []
    for f in frames:
        t0 = time.perf_counter()
        image, order = image_view("bgr8", f.height, f.width, f.width * 3, f.data)
        t1 = time.perf_counter()
        result = pipe.process(image, order)
        t2 = time.perf_counter()
        out.append((t2 - t0) * 1e3)
        if stages is not None:
            add_stages(stages, result.timings, (t1 - t0) * 1e3)
    return out


def add_stages(stages: dict[str, list[float]], t: Timings, convert_ms: float) -> None:
    for k, v in (
        ("convert", convert_ms),
        ("pre", t.pre),
        ("infer", t.infer),
        ("post", t.post),
        ("classify", t.classify),
    ):
        stages.setdefault(k, []).append(v)


def _status_mb(pid: int | str, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


#: the clock ticks of /proc/<pid>/stat's CPU times
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_mb(pid: int | str = "self") -> float:
    """Resident set size now (VmRSS), MiB."""
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM), MiB."""
    return _status_mb(pid, "VmHWM:")


def track_rss(n: int, step: Callable[[int], object], read: Callable[[], float], samples: int = 20) -> dict[str, Any]:
    """Run ``step(i)`` for ``n`` frames, sampling ``read()`` (MiB) ``samples`` times; growth is
    taken after a 10 % warm-up (first-frame allocations are not a leak)."""
    every = max(1, n // samples)
    curve: list[tuple[int, float]] = []
    for i in range(n):
        step(i)
        if i % every == 0 or i == n - 1:
            curve.append((i + 1, read()))
    warm = [c for c in curve if c[0] >= n // 10] or curve
    return {"frames": n, "curve": curve, "growth_mb": warm[-1][1] - warm[0][1] if warm else float("nan")}


def rss_over(pipe: GesturePipeline, frames: list[Frame], n: int) -> dict[str, Any]:
    """RSS of this process while the core pipeline processes ``n`` frames (cycling)."""

    def step(i: int) -> None:
        f = frames[i % len(frames)]
        pipe.process(*image_view("bgr8", f.height, f.width, f.width * 3, f.data))

    return track_rss(n, step, rss_mb)

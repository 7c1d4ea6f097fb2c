"""A node's health on ``/diagnostics``: counters and timings, one-line error reports, model and
remote-backend state.

Thread-safe: a remote backend's worker thread and the executor both record here while the
diagnostics timer reads (see :class:`Stats`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from ..core.errors import BackendUnavailableError
from ..core.link import Link
from ..core.pipeline import Timings

OK, ERROR = 0, 2


class Stats:
    """Rates over a sliding window, latency, drops and rejections for diagnostics.

    Every change and :meth:`snapshot` hold one lock: an unlocked read-modify-write of a counter
    can lose increments, and iterating the stage dict while a new stage is added raises.
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self.inputs: deque[float] = deque()
        self.outputs: deque[float] = deque()
        self.latency_ms: deque[float] = deque(maxlen=200)
        self.counters: dict[str, int] = {}
        #: fixed facts of the node (which execution provider runs each model)
        self.info: dict[str, str] = {}
        #: per-stage milliseconds (convert, pre, infer, post, classify, publish) of recent frames
        self.stages: dict[str, deque[float]] = {}

    def _trim(self, q: deque[float], now: float) -> None:
        while q and now - q[0] > self.window_s:
            q.popleft()

    def input(self) -> None:
        """One input message arrived."""
        with self._lock:
            now = time.monotonic()
            self.inputs.append(now)
            self._trim(self.inputs, now)

    def output(self, latency_ms: float) -> None:
        """One result was published, ``latency_ms`` after its input's stamp."""
        with self._lock:
            now = time.monotonic()
            self.outputs.append(now)
            self._trim(self.outputs, now)
            self.latency_ms.append(latency_ms)

    def stage(self, name: str, ms: float) -> None:
        """One frame's milliseconds in a stage."""
        with self._lock:
            q = self.stages.get(name)
            if q is None:
                q = self.stages[name] = deque(maxlen=200)
            q.append(ms)

    def timings(self, t: Timings) -> None:
        """A frame's core timings, stage by stage."""
        for name, ms in (("pre", t.pre), ("infer", t.infer), ("post", t.post), ("classify", t.classify)):
            if ms:
                self.stage(name, ms)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage(name, (time.perf_counter() - t0) * 1e3)

    def set_info(self, key: str, value: str) -> None:
        """A fact shown on every diagnostics message (``detector_provider: CUDAExecutionProvider``)."""
        with self._lock:
            self.info[key] = value

    def count(self, key: str, n: int = 1) -> None:
        """Add ``n`` to a counter."""
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + n

    def set_counter(self, key: str, value: int, at_least: bool = False) -> bool:
        """Set a counter kept elsewhere (a sync's drops, a model's NaN frames); with
        ``at_least`` only raise it. Returns whether it changed."""
        with self._lock:
            old = self.counters.get(key, 0)
            if at_least and value <= old:
                return False
            self.counters[key] = value
            return value != old

    def snapshot(self) -> dict[str, str]:
        """The diagnostics key/values, read consistently under the lock."""
        with self._lock:
            now = time.monotonic()
            for q in (self.inputs, self.outputs):
                self._trim(q, now)
            lat = sorted(self.latency_ms)
            return {
                "input_rate_hz": f"{len(self.inputs) / self.window_s:.2f}",
                "processing_rate_hz": f"{len(self.outputs) / self.window_s:.2f}",
                "latency_p50_ms": f"{lat[len(lat) // 2]:.2f}" if lat else "nan",
                **{f"{k}_ms_p50": f"{sorted(q)[len(q) // 2]:.3f}" for k, q in self.stages.items() if q},
                **{k: str(v) for k, v in sorted(self.counters.items())},
                **dict(sorted(self.info.items())),
            }


class Diagnostics:
    """Publishes the node's :class:`Stats` and state every ``period`` seconds; reports problems."""

    def __init__(self, node: Node, period: float) -> None:
        self.node = node
        self.stats = Stats()
        #: level and message of the node's status (a model that failed to load, a backend down)
        self.state: tuple[int, str] = (OK, "ok")
        self._links_down: set[str] = set()  # stages whose remote backend is down
        self._reported: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        node.create_timer(period, self.publish)

    def report(self, kind: str, message: str, throttle_s: float = 10.0) -> None:
        """One clear error line per distinct problem; repeats are counted, not spammed.

        ``kind`` is the diagnostics counter; the same message within ``throttle_s`` is only
        counted and summarised in the next line for it.
        """
        self.stats.count(kind)
        now = time.monotonic()
        with self._lock:
            last = self._reported.get(message)
            if last is not None and now - last < throttle_s:
                self._suppressed[message] = self._suppressed.get(message, 0) + 1
                return
            extra = self._suppressed.pop(message, 0)
            self._reported[message] = now
            if len(self._reported) > 256:  # bounded: forget the oldest problems
                oldest = min(self._reported, key=self._reported.__getitem__)
                self._reported.pop(oldest)
                self._suppressed.pop(oldest, None)
        suffix = f" ({extra} more since the last report)" if extra else ""
        self.node.get_logger().error(f"{message}{suffix}")

    def fail(self, exc: BaseException) -> None:
        """A model or config that cannot load: one error, ERROR on diagnostics, node stays up."""
        self.state = (ERROR, str(exc))
        self.node.get_logger().error(f"{type(exc).__name__}: {exc}")

    def recovered(self) -> None:
        """A model that failed to load has loaded (a lifecycle configure retried): OK again."""
        if self.state[0] == ERROR and not self._links_down:
            self.state = (OK, "ok")

    def unavailable(self, stage: str, exc: BackendUnavailableError, link: Link | None) -> None:
        """A remote stage that is down: nothing is published for the frame (an empty detection
        list would say "no hands"); counted, reported, ERROR on diagnostics."""
        self.report(f"{stage}_unavailable", f"{stage} unavailable, frame skipped: {exc}")
        self.link_outcome(stage, link)

    def classify_outcome(self, error: str | None, link: Link | None) -> None:
        """After a classification attempt: report a remote backend that is down (detections are
        still published, gestures marked unavailable) and say when it is back."""
        if error is not None:
            self.report(
                "classifier_unavailable", f"gesture classification unavailable: {error}; detections still published"
            )
        self.link_outcome("classifier", link)

    def link_outcome(self, stage: str, link: Link | None) -> None:
        """The status follows a stage's remote backend: ERROR with the reason while it is down,
        one log line and OK again (when no other stage is down) once it is back."""
        if link is None:
            return
        if not link.up:
            self._links_down.add(stage)
            self.state = (ERROR, f"{stage} backend {link.state}")
        elif stage in self._links_down:
            self._links_down.discard(stage)
            what = "gestures" if stage == "classifier" else "detections"
            self.node.get_logger().info(f"{stage} backend reconnected after {link.faults} fault(s); {what} resume")
            if not self._links_down:
                self.state = (OK, "ok")

    def nonfinite(self, stage: str, total: int) -> None:
        """A model whose outputs hold NaN/inf: nothing is made from those values (decoding skips
        them, a classification becomes unavailable); the frames are counted on diagnostics
        (``nonfinite_<stage>_outputs``) and reported (throttled), the node keeps running."""
        key = f"nonfinite_{stage}_outputs"
        if self.stats.set_counter(key, total, at_least=True):
            self.report(
                f"{key}_reports",
                f"the {stage} model produced NaN/inf outputs; they are ignored (counted in {key} on /diagnostics)",
            )

    def publish(self) -> None:
        """One DiagnosticArray with this node's status and values."""
        st = DiagnosticStatus()
        st.name = f"gesture_ros: {self.node.get_name()}"
        st.hardware_id = self.node.get_fully_qualified_name()
        level, text = self.state
        st.level = bytes([level])
        st.message = text
        st.values = [KeyValue(key=k, value=v) for k, v in self.stats.snapshot().items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        arr.status = [st]
        self._pub.publish(arr)

"""What every gesture_ros node shares: declared parameters with ranges, one-line error
reporting, rate/latency/drop statistics and ``/diagnostics``."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image

from .. import paths
from ..core.errors import BackendUnavailableError, ConfigError, GestureRosError, ImageFormatError
from ..core.image import Image as Frame
from ..core.image import PixelOrder
from ..core.link import Link
from ..core.model_spec import ModelsConfig, load_models
from ..core.pipeline import Timings
from ..core.sync import ExactTimeSync
from ..core.worker import LatestWorker
from ..settings import PARAMS, Param
from .convert import image_from_msg, stamp_key

#: Images: best effort, keep only the newest frame (never process stale frames).
IMAGE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT, history=HistoryPolicy.KEEP_LAST)
#: Detections / gestures / events: reliable, a short history.
RESULT_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def _descriptor(p: Param) -> ParameterDescriptor:
    d = ParameterDescriptor(description=p.description, read_only=p.read_only)
    if p.choices:
        d.additional_constraints = "one of: " + ", ".join(p.choices)
    if p.min is not None and p.max is not None:
        if isinstance(p.default, float):
            d.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max), step=0.0)]
        elif isinstance(p.default, int) and not isinstance(p.default, bool):
            d.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
    return d


class Stats:
    """Rates over a sliding window, latency, drops and rejections for diagnostics.

    Thread-safe: a remote classifier's worker thread and the executor both record here while the
    diagnostics timer reads, so every change and :meth:`snapshot` hold one lock (an unlocked
    read-modify-write of a counter can lose increments, and iterating the stage dict while a new
    stage is added raises).
    """

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self.inputs: deque[float] = deque()
        self.outputs: deque[float] = deque()
        self.latency_ms: deque[float] = deque(maxlen=200)
        self.counters: dict[str, int] = {}
        #: per-stage milliseconds (convert, pre, infer, post, classify, publish) of recent frames
        self.stages: dict[str, deque[float]] = {}

    def _trim(self, q: deque[float], now: float) -> None:
        while q and now - q[0] > self.window_s:
            q.popleft()

    def input(self) -> None:
        with self._lock:
            now = time.monotonic()
            self.inputs.append(now)
            self._trim(self.inputs, now)

    def output(self, latency_ms: float) -> None:
        with self._lock:
            now = time.monotonic()
            self.outputs.append(now)
            self._trim(self.outputs, now)
            self.latency_ms.append(latency_ms)

    def stage(self, name: str, ms: float) -> None:
        with self._lock:
            q = self.stages.get(name)
            if q is None:
                q = self.stages[name] = deque(maxlen=200)
            q.append(ms)

    def timings(self, t: Timings) -> None:
        for name, ms in (("pre", t.pre), ("infer", t.infer), ("post", t.post), ("classify", t.classify)):
            if ms:
                self.stage(name, ms)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stage(name, (time.perf_counter() - t0) * 1e3)

    def count(self, key: str, n: int = 1) -> None:
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
            }


class BaseNode(Node):
    """Declares its parameters from :data:`gesture_ros.settings.PARAMS`, rejects bad values with
    the reason, and publishes diagnostics for the node."""

    def __init__(self, name: str, param_names: tuple[str, ...] | list[str]) -> None:
        super().__init__(name)
        self.stats = Stats()
        self.backend_state: tuple[int, str] = (0, "ok")
        self._links_down: set[str] = set()  # stages whose remote backend is down (link_outcome)
        self._workers: list[LatestWorker[Any]] = []
        #: inference backends the node built: closed at shutdown (Triton connections, shared
        #: memory regions, TensorRT contexts)
        self.owned_backends: list[Any] = []
        self._reported: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.values: dict[str, Any] = {}
        #: set by a node whose work is done (a camera at the end of its file): spin_node returns
        self.finished = False
        for n in ("diagnostics_period", *param_names):
            if n not in self.values:
                self.values[n] = self._declare(PARAMS[n])
        self._on_change: list[Callable[[], None]] = []
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(float(self.values["diagnostics_period"]), self._publish_diagnostics)

    # -- parameters -------------------------------------------------------------------------
    def _declare(self, p: Param) -> Any:
        """Declare with the override from the params file / command line, if it is valid.

        An invalid override is one error line and the default; an integer given for a float
        parameter (``ratio: 2``) is accepted as the float, and a number given for a string
        parameter (``camera.source:=0``, YAML reads it as an int) as its text.
        """
        desc = _descriptor(p)
        value: Any = p.default
        ignore = False
        override = self._parameter_overrides.get(p.name)
        if override is not None:
            raw = override.value
            if isinstance(p.default, str) and isinstance(raw, int | float) and not isinstance(raw, bool):
                raw = str(raw)
            why = p.check(raw)
            if why:
                self.get_logger().error(f"parameter {why}; using the default {p.default!r}")
            else:
                value = float(raw) if isinstance(p.default, float) else raw
            # declare with our value unless it is exactly the override (type included)
            ignore = bool(why) or type(value) is not type(override.value)
        try:
            return self.declare_parameter(p.name, value, desc, ignore_override=ignore).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            self.get_logger().error(f"parameter {p.name}: {exc}; using the default {p.default!r}")
            return self.declare_parameter(p.name, p.default, desc, ignore_override=True).value

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        for prm in params:
            spec = PARAMS.get(prm.name)
            if spec is None:
                continue
            why = spec.check(prm.value)
            if why:
                self.get_logger().warning(f"rejected parameter change: {why}")
                return SetParametersResult(successful=False, reason=why)
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        for prm in params:
            if prm.name in self.values:
                self.values[prm.name] = prm.value
        for cb in self._on_change:
            cb()

    def close(self) -> None:
        """Release what the node holds (video files, sources); called before shutdown."""

    def on_parameters_changed(self, cb: Callable[[], None]) -> None:
        self._on_change.append(cb)

    def models(self) -> ModelsConfig:
        return load_models(paths.resolve(self.values["models_file"]))

    # -- reporting --------------------------------------------------------------------------
    def report(self, kind: str, message: str, throttle_s: float = 10.0) -> None:
        """One clear error line per distinct problem; repeats are counted, not spammed.

        ``kind`` is the diagnostics counter; the same message within ``throttle_s`` is only
        counted and summarised in the next line for it.
        """
        self.stats.count(kind)
        now = time.monotonic()
        last = self._reported.get(message)
        if last is None or now - last >= throttle_s:
            extra = self._suppressed.pop(message, 0)
            suffix = f" ({extra} more since the last report)" if extra else ""
            self.get_logger().error(f"{message}{suffix}")
            self._reported[message] = now
            if len(self._reported) > 256:  # bounded: forget the oldest problems
                oldest = min(self._reported, key=self._reported.__getitem__)
                self._reported.pop(oldest)
                self._suppressed.pop(oldest, None)
        else:
            self._suppressed[message] = self._suppressed.get(message, 0) + 1

    def classify_outcome(self, error: str | None, link: Link | None) -> None:
        """After a classification attempt: report a remote backend that is down (detections are
        still published, gestures marked unavailable) and say when it is back."""
        if error is not None:
            self.report("classifier_unavailable", f"gesture classification unavailable: {error}; detections still published")
        self.link_outcome("classifier", link)

    def detect_unavailable(self, exc: BackendUnavailableError, link: Link | None) -> None:
        """A remote detector that is down: nothing is published for the frame (an empty
        detection list would say "no hands"); counted, reported, ERROR on diagnostics."""
        self.report("detector_unavailable", f"hand detection unavailable, frame skipped: {exc}")
        self.link_outcome("detector", link)

    def link_outcome(self, stage: str, link: Link | None) -> None:
        """Diagnostics follow a stage's remote backend: ERROR with the reason while it is down,
        one log line and OK again (when no other stage is down) once it is back."""
        if link is None:
            return
        if not link.up:
            self._links_down.add(stage)
            self.backend_state = (2, f"{stage} backend {link.state}")
        elif stage in self._links_down:
            self._links_down.discard(stage)
            what = "gestures" if stage == "classifier" else "detections"
            self.get_logger().info(f"{stage} backend reconnected after {link.faults} fault(s); {what} resume")
            self.backend_state = (0, "ok") if not self._links_down else self.backend_state

    def note_nonfinite(self, stage: str, total: int) -> None:
        """A model whose outputs hold NaN/inf: nothing is made from those values (decoding skips
        them, a classification becomes unavailable); the frames are counted on diagnostics
        (``nonfinite_<stage>_outputs``) and reported (throttled), the node keeps running."""
        key = f"nonfinite_{stage}_outputs"
        if self.stats.set_counter(key, total, at_least=True):
            self.report(
                f"{key}_reports", f"the {stage} model produced NaN/inf outputs; they are ignored (counted in {key} on /diagnostics)"
            )

    def dispatcher(self, fn: Callable[..., None], remote: bool) -> Callable[..., None]:
        """``fn`` itself, or for a remote backend (Triton) a one-slot worker thread in front of it:
        the executor never waits on the network, the newest input wins and replaced inputs are
        counted (``dropped_stale_frames``)."""
        if not remote:
            return fn
        worker: LatestWorker[tuple[Any, ...]] = LatestWorker(
            lambda args: fn(*args),
            f"{self.get_name()}-worker",
            lambda exc: self.report("worker_errors", f"processing failed: {type(exc).__name__}: {exc}"),
        )
        self._workers.append(worker)

        def submit(*args: Any) -> None:
            if not worker.submit(args):
                self.stats.count("dropped_stale_frames")

        return submit

    def stop_workers(self) -> None:
        for w in self._workers:
            w.close()

    def fail_startup(self, exc: GestureRosError | OSError) -> None:
        """A model or config that cannot load: one error, ERROR on diagnostics, node stays up."""
        self.backend_state = (2, str(exc))
        self.get_logger().error(f"{type(exc).__name__}: {exc}")

    # -- images -----------------------------------------------------------------------------
    def subscribe_images(self, callback: Callable[[Any], None]) -> None:
        """Images with keep-last-1: a frame that arrives while the node is busy replaces the one
        waiting, so the node always works on the newest. The replaced frames are counted
        (``dropped_frames`` on diagnostics) from gaps in each camera's publication sequence."""
        topic = str(self.values["image_topic"])
        last_seq: dict[bytes, int] = {}

        def on_image(msg: Any, info: Any) -> None:
            seq = info.get("publication_sequence_number") if isinstance(info, dict) else None
            gid = info.get("publisher_gid") if isinstance(info, dict) else None
            if seq and gid:
                key = bytes(gid.get("data", b"")) if isinstance(gid, dict) else bytes(gid)
                prev = last_seq.get(key)
                if prev is not None and seq > prev + 1:
                    self.stats.count("dropped_frames", seq - prev - 1)
                if prev is None and len(last_seq) >= 16:  # cameras come and go: stay bounded
                    last_seq.pop(next(iter(last_seq)))
                last_seq[key] = seq
            callback(msg)

        if self.values.get("image_transport", "raw") == "compressed":
            self.create_subscription(CompressedImage, topic.rstrip("/") + "/compressed", on_image, IMAGE_QOS)
        else:
            self.create_subscription(Image, topic, on_image, IMAGE_QOS)

    def accept(self, msg: Any, ready: bool) -> tuple[Frame, PixelOrder] | None:
        """Count an incoming image and return it, or None when the node has no working model
        (counted) or the image is rejected (reported)."""
        self.stats.input()
        if not ready:
            self.stats.count("frames_without_model")
            return None
        return self.frame_from(msg)

    def frame_from(self, msg: Any) -> tuple[Frame, PixelOrder] | None:
        """The image of a message, or None after reporting why it was rejected."""
        try:
            with self.stats.timed("convert"):
                return image_from_msg(msg)
        except ImageFormatError as exc:
            self.report("rejected_images", f"rejected image on {self.values['image_topic']}: {exc}")
            return None

    def subscribe_synced(self, msg_type: Any, topic: str, callback: Callable[[Any, Any], None]) -> ExactTimeSync[Any, Any]:
        """Call ``callback(image_msg, other_msg)`` for images and ``msg_type`` messages with the
        same stamp; unmatched messages are counted on diagnostics."""
        sync: ExactTimeSync[Any, Any] = ExactTimeSync(int(self.values["sync.queue_size"]))

        def deliver(pair: tuple[Any, Any] | None) -> None:
            self.stats.set_counter("unmatched_images", sync.dropped_a)
            self.stats.set_counter("unmatched_inputs", sync.dropped_b)
            if pair is not None:
                callback(*pair)

        def on_image(msg: Any) -> None:
            self.stats.input()
            deliver(sync.add_a(stamp_key(msg.header.stamp), msg))

        self.subscribe_images(on_image)
        self.create_subscription(msg_type, topic, lambda m: deliver(sync.add_b(stamp_key(m.header.stamp), m)), RESULT_QOS)
        return sync

    def latency_ms(self, stamp: Any) -> float:
        now = self.get_clock().now().nanoseconds
        return (now - (int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec))) / 1e6

    # -- diagnostics ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        st = DiagnosticStatus()
        st.name = f"gesture_ros: {self.get_name()}"
        st.hardware_id = self.get_fully_qualified_name()
        level, text = self.backend_state
        st.level = bytes([level])
        st.message = text
        values = self.stats.snapshot()
        st.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [st]
        self._diag_pub.publish(arr)


def spin_node(factory: Callable[[], BaseNode], args: list[str] | None = None) -> None:
    """Run a node until SIGINT/SIGTERM or until it says it is finished.

    Signals only set a flag, so the node's ``close()`` (finalising a video, logging what it
    wrote) runs while the ROS context is still valid. A ConfigError from the factory is one
    line and exit code 2.
    """
    import signal
    import sys
    import threading

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.impl.implementation_singleton import rclpy_implementation
    from rclpy.signals import SignalHandlerOptions

    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except rclpy_implementation.RCLError as exc:  # e.g. a params file that is not valid YAML
        print(f"[ERROR] cannot start: {str(exc).split(', at ')[0]}", file=sys.stderr)
        sys.exit(2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        node = factory()
    except ConfigError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        rclpy.try_shutdown()
        sys.exit(2)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and not node.finished and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    finally:
        node.stop_workers()  # no worker publishes while the node closes
        node.close()
        for backend in node.owned_backends:
            try:
                backend.close()
            except Exception as exc:  # a connection that is already gone: say so, keep closing
                print(f"[WARN] closing {type(backend).__name__}: {exc}", file=sys.stderr)
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()

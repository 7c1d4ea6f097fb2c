"""The node graphs over DDS, driven from this process: camera frames in, GestureArrays out.

The graph's nodes run as their own processes, started from the same graph descriptions
``gesture-ros up`` and the launch files use (config/graph_*.yaml), minus the camera, overlay and
echo: this process is the camera. Frames go in closed loop (the next when the previous frame's
GestureArray is back), so each latency is one frame's trip with nothing queued in front of it:
image header stamp -> the GestureArray's DDS source timestamp (its publish time).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from gesture_ros_msgs.msg import GestureArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from ..bringup import _stop, node_command, node_env
from ..graph import load_graph, resolve
from ..nodes.base import IMAGE_QOS, RESULT_QOS
from ..nodes.convert import stamp_key
from .inproc import Frame, cpu_seconds, peak_rss_mb, rss_mb, track_rss

#: graph file -> the nodes between camera and GestureArray
GRAPHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fused": ("config/graph_fused.yaml", ("gesture_pipeline",)),
    "separate": ("config/graph_separate.yaml", ("hand_detector", "roi", "gesture_classifier")),
}
IMAGE_TOPIC = "/gesture_ros_bench/image_raw"


@dataclass
class GraphRun:
    """What one graph did with the frames, per round (each round: raw inference in this process,
    the graph in closed loop, the graph in open loop, back to back)."""

    raw_ms: list[list[float]] = field(default_factory=list)  # per round, per frame
    latency_ms: list[list[float]] = field(default_factory=list)  # per round, per frame (nan: lost)
    closed_fps: list[float] = field(default_factory=list)
    #: open loop: frames sent faster than the graph takes them (keep-last-1 replaces the rest)
    saturated_fps: list[float] = field(default_factory=list)
    saturate_hz: list[float] = field(default_factory=list)
    saturated_published: list[int] = field(default_factory=list)
    saturated_latency_ms: list[list[float]] = field(default_factory=list)  # per round, per output
    #: a camera at ``camera_hz`` (what a robot runs), once: frames out, latency, the nodes' CPU
    camera: dict[str, Any] | None = None
    lost: int = 0
    startup_s: float = float("nan")
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    rss: dict[str, Any] | None = None  # the graph's RSS over ``rss_frames`` more frames
    stages_ms: dict[str, dict[str, float]] = field(default_factory=dict)


class Driver:
    """The camera and the listener, in a context of its own."""

    def __init__(self, gestures_topic: str = "/gestures") -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node("gesture_ros_bench", context=self.context)
        self.pub = self.node.create_publisher(Image, IMAGE_TOPIC, IMAGE_QOS)
        self.back: dict[int, int] = {}  # image stamp -> GestureArray publish time (ns)
        self.hands: dict[int, int] = {}  # image stamp -> hands in its GestureArray
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.node.create_subscription(GestureArray, gestures_topic, self._on_gestures, RESULT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_gestures(self, msg: GestureArray, info: Any) -> None:
        self.back[stamp_key(msg.header.stamp)] = int(info["source_timestamp"]) or time.time_ns()
        self.hands[stamp_key(msg.header.stamp)] = len(msg.gestures)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for st in msg.status:
            self.diagnostics[st.name] = {kv.key: kv.value for kv in st.values}

    def send(self, frame: Frame) -> int:
        """Publish ``frame`` stamped now (system time, as a camera driver does); returns the stamp."""
        now = time.time_ns()
        msg = Image()
        msg.header = Header(stamp=Time(sec=now // 1_000_000_000, nanosec=now % 1_000_000_000), frame_id="bench_camera")
        msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step = (
            frame.height,
            frame.width,
            "bgr8",
            0,
            frame.width * 3,
        )
        msg.data = frame.data
        self.pub.publish(msg)
        return now

    def wait(self, stamp: int, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while stamp not in self.back and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)
        self.hands.pop(stamp, None)
        return self.back.pop(stamp, None)

    def clear(self) -> None:
        """Forget every GestureArray received so far (publish times and hand counts alike)."""
        self.back.clear()
        self.hands.clear()

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@contextmanager
def start_graph(kind: str, overrides: dict[str, str] | None = None) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """The graph's node processes, stopped on exit, with their parameter files removed (the
    bring-up does the same; the bench left its files in the temporary folder before)."""
    graph_file, wanted = GRAPHS[kind]
    graph = load_graph(graph_file)
    launches = [n for n in resolve(graph, {"image_topic": IMAGE_TOPIC, **(overrides or {})}) if n.name in wanted]
    run_dir = Path(tempfile.mkdtemp(prefix=f"gesture_ros_bench_{kind}_"))
    env = {**node_env(), **graph.environment}
    procs = {}
    try:
        for n in launches:
            procs[n.name] = subprocess.Popen(
                node_command(n, run_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
        yield procs
    finally:
        _stop(procs)
        shutil.rmtree(run_dir, ignore_errors=True)


def run_graph(
    kind: str,
    frames: list[Frame],
    driver: Driver,
    raw: Callable[[], list[float]],
    rounds: int = 1,
    rss_frames: int = 0,
    timeout: float = 5.0,
    startup_timeout: float = 60.0,
    saturate: float = 1.3,
    params_file: str | None = None,
    camera_hz: float = 30.0,
) -> GraphRun:
    """Start the graph and time until its first GestureArray; then ``rounds`` times: ``raw()``
    (raw inference on the same frames, in this process, while the graph idles), every frame in
    closed loop (latency), every frame in open loop at ``saturate`` x the closed-loop rate
    (throughput: the rate of GestureArray publish times while the camera outruns the graph);
    in the first round also every frame at ``camera_hz`` (0: not), a robot's camera: how many
    frames come out, their latency and the graph's CPU per frame.
    ``params_file``: the nodes' parameters (the graph's launch argument; default: its own)."""
    run = GraphRun()
    driver.clear()
    driver.diagnostics.clear()
    t_spawn = time.monotonic()
    stack = ExitStack()
    procs = stack.enter_context(start_graph(kind, {"params_file": params_file} if params_file else None))
    try:
        # start-up: the first frame again and again until a GestureArray comes back
        deadline = t_spawn + startup_timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs.values()):
                raise RuntimeError(f"a node of the {kind} graph exited during start-up")
            if driver.wait(driver.send(frames[0]), 0.1) is not None:
                run.startup_s = time.monotonic() - t_spawn
                break
        else:
            raise RuntimeError(f"no GestureArray from the {kind} graph within {startup_timeout} s")
        for f in frames[:10]:  # warm-up (discovery stragglers, first-call allocations)
            driver.wait(driver.send(f), timeout)
        for r in range(rounds):
            run.raw_ms.append(raw())
            lat = []
            t0 = time.monotonic()
            for f in frames:
                stamp = driver.send(f)
                back = driver.wait(stamp, timeout)
                run.lost += back is None
                lat.append((back - stamp) / 1e6 if back is not None else float("nan"))
            run.closed_fps.append(len(frames) / (time.monotonic() - t0))
            run.latency_ms.append(lat)
            if r == 0:
                driver.spin_for(1.2)  # one more diagnostics period: the nodes' stage timings of these frames
                for name, values in driver.diagnostics.items():
                    node = name.split(": ", 1)[-1]
                    if node in procs:  # not a late status of the previous graph
                        run.stages_ms[node] = {
                            k[:-7]: float(v) for k, v in values.items() if k.endswith("_ms_p50") and v != "nan"
                        }
            if saturate > 0:
                sat = _open_loop(driver, frames, saturate * run.closed_fps[-1])
                run.saturated_fps.append(sat.fps)
                run.saturate_hz.append(sat.rate_hz)
                run.saturated_published.append(len(sat.latency_ms))
                run.saturated_latency_ms.append(sat.latency_ms)
            if r == 0 and camera_hz > 0:
                cpu0 = sum(cpu_seconds(p.pid) for p in procs.values())
                cam = _open_loop(driver, frames, camera_hz)
                cpu = sum(cpu_seconds(p.pid) for p in procs.values()) - cpu0
                run.camera = {
                    "camera_hz": camera_hz,
                    "frames": len(frames),
                    "processed": len(cam.latency_ms),
                    "fps": cam.fps,
                    "latency_ms": cam.latency_ms,
                    "cpu_ms_per_frame": cpu * 1e3 / max(1, len(cam.latency_ms)),  # the graph's processes
                }
        if rss_frames:  # memory of the graph's processes over many frames
            run.rss = track_rss(
                rss_frames,
                lambda i: driver.wait(driver.send(frames[i % len(frames)]), timeout),
                lambda: sum(rss_mb(p.pid) for p in procs.values()),
            )
        run.peak_rss_mb = {name: peak_rss_mb(p.pid) for name, p in procs.items()}
    finally:
        stack.close()
    return run


@dataclass
class OpenLoop:
    """Frames sent at a fixed rate, whether or not the graph is done with the previous one."""

    rate_hz: float
    fps: float  # the graph's output rate, from its GestureArrays' publish times
    latency_ms: list[float]  # per GestureArray that came out: stamp -> publish time


def _open_loop(driver: Driver, frames: list[Frame], rate_hz: float) -> OpenLoop:
    """Send every frame at ``rate_hz``, as a camera does; what came out and when."""
    driver.clear()
    period = 1.0 / rate_hz
    t_next = time.monotonic()
    stamps = []
    for f in frames:
        stamps.append(driver.send(f))
        t_next += period
        while time.monotonic() < t_next:
            driver.executor.spin_once(timeout_sec=max(0.0, t_next - time.monotonic()))
    driver.spin_for(0.5)
    published = sorted(driver.back.values())
    fps = (len(published) - 1) / ((published[-1] - published[0]) / 1e9) if len(published) > 2 else float("nan")
    return OpenLoop(rate_hz, fps, [(driver.back[s] - s) / 1e6 for s in stamps if s in driver.back])

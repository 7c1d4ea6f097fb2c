"""Test-side ROS helpers: a node in the pytest process and a graph started by `gesture-ros up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

ROOT = Path(__file__).resolve().parent.parent
#: stamps of warm-up frames: WARMUP_NS + k (real test frames are stamped later)
WARMUP_NS = 1_000_000_000


def encode(bgr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str = "test_cam", pad: int = 0) -> Image:
    """A sensor_msgs/Image in ``encoding`` (optionally with row padding) from a BGR array."""
    conv = {
        "bgr8": bgr,
        "rgb8": bgr[..., ::-1],
        "bgra8": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "rgba8": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA),
        "mono8": cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)[..., None],
    }
    arr = np.ascontiguousarray(conv.get(encoding, bgr))
    h, w = arr.shape[:2]
    c = arr.shape[2] if arr.ndim == 3 else 1
    rows = np.zeros((h, w * c + pad), np.uint8)
    rows[:, : w * c] = arr.reshape(h, w * c)
    msg = Image()
    msg.header = header(stamp_ns, frame_id)
    msg.height, msg.width, msg.encoding, msg.step = h, w, encoding, w * c + pad
    msg.data = rows.tobytes()
    return msg


def compressed(bgr: np.ndarray, stamp_ns: int, frame_id: str = "test_cam") -> CompressedImage:
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    msg = CompressedImage()
    msg.header = header(stamp_ns, frame_id)
    msg.format = "png"
    msg.data = png.tobytes()
    return msg


def header(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000), frame_id=frame_id)


def stamp_ns(h: Header) -> int:
    return h.stamp.sec * 1_000_000_000 + h.stamp.nanosec


class Harness:
    """A node in the test process with its own context and executor."""

    def __init__(self, name: str = "test_harness") -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[Any]] = {}
        self.subscriptions: dict[str, Any] = {}
        #: messages stamped below this are warm-up traffic and are not recorded
        self.stamp_floor = 0

    def publisher(self, msg_type: Any, topic: str) -> Any:
        return self.node.create_publisher(msg_type, topic, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))

    def subscribe(self, msg_type: Any, topic: str, best_effort: bool = False) -> list[Any]:
        box: list[Any] = self.received.setdefault(topic, [])
        qos = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
        )

        def record(msg: Any) -> None:
            h = getattr(msg, "header", None)
            if h is None or stamp_ns(h) >= self.stamp_floor:
                box.append(msg)

        self.subscriptions[topic] = self.node.create_subscription(msg_type, topic, record, qos)
        return box

    def matched(self, topic: str, n: int = 1) -> bool:
        """True once this node's subscription on ``topic`` is matched with ``n`` publishers."""
        return bool(self.subscriptions[topic].get_publisher_count() >= n)

    def spin_until(self, cond: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return cond()

    def handshake(self, publish: Callable[[int], Any], *boxes: list[Any], timeout: float = 40.0) -> None:
        """Send warm-up frames until one comes back through the graph, then forget them.

        DDS discovery is asymmetric: a writer can report a matched reader before that reader
        has matched the writer, and samples sent in between are dropped. A round trip to every
        output in ``boxes`` proves the links to them are up. ``publish(k)`` sends warm-up frame k
        with stamp ``WARMUP_NS + k``; afterwards only messages stamped after the warm-up are
        recorded, however late a warm-up output arrives.
        """
        deadline = time.monotonic() + timeout
        k = 0
        while time.monotonic() < deadline:
            publish(k)
            k += 1
            if self.spin_until(lambda: all(len(b) > 0 for b in boxes), 1.0):
                self.stamp_floor = WARMUP_NS + k
                for lst in self.received.values():
                    lst.clear()
                return
        raise AssertionError(f"no output through the graph within {timeout} s")

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class Graph:
    """`gesture-ros up GRAPH args...` as a subprocess, its output captured to a file."""

    def __init__(self, graph: str, args: dict[str, str], log: Path, ros_args: list[str] | None = None) -> None:
        self.log_path = log
        cmd = [sys.executable, "-m", "gesture_ros.cli", "up", graph, *(f"{k}:={v}" for k, v in args.items())]
        if ros_args:
            cmd += ["--ros-args", *ros_args]
        self._log = log.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=dict(os.environ))

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)

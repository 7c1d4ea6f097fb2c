"""Several cameras: one fused node serving N cameras against N fused nodes, on the same frames.

For N = 1, 2, 4 (``--cameras``): either one ``gesture_pipeline_node`` with
``multi_camera.namespaces: cam0,...`` (one copy of each model, the cameras' frames detected in
one batched call), or N ``gesture_pipeline_node`` processes, one per camera namespace. The same
topics either way (``/camK/image_raw`` in, ``/camK/gestures`` out), driven from this process: every
camera gets the same frame at once (cameras triggered together, the case batching is for), and
the next frame goes when every camera's GestureArray is back (closed loop). Reported per setup:
frames per second per camera, latency (image stamp -> the GestureArray's publish time), CPU ms
per camera frame (all node processes) and the node processes' peak memory.

    python -m gesture_ros.bench.multicam --cameras 1 2 4 --frames 40 --json out/bench/multicam.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from gesture_ros_msgs.msg import GestureArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from .. import paths
from ..bringup import _stop, node_env
from ..nodes.base import IMAGE_QOS, RESULT_QOS
from ..nodes.convert import stamp_key
from .frames import clip
from .inproc import cpu_seconds, peak_rss_mb

SETUPS = ("one node", "one node per camera")


def node_processes(setup: str, n: int) -> dict[str, subprocess.Popen[bytes]]:
    """The fused node(s) for ``n`` cameras, as ``setup`` says."""
    params = str(paths.share_dir() / "config" / "gesture_ros.yaml")
    base = [sys.executable, "-m", "gesture_ros.nodes.gesture_pipeline_node", "--ros-args", "--params-file", params,
            "-p", "image_topic:=image_raw"]  # fmt: skip
    env = node_env()
    if setup == SETUPS[0]:
        cams = ",".join(f"cam{k}" for k in range(n))
        cmds = {"gesture_pipeline": [*base, "-p", f"multi_camera.namespaces:={cams}"]}
    else:
        cmds = {f"cam{k}": [*base, "-r", f"__ns:=/cam{k}"] for k in range(n)}
    return {
        name: subprocess.Popen(c, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        for name, c in cmds.items()
    }


class Cameras:
    """N camera publishers and N GestureArray listeners in a context of their own."""

    def __init__(self, n: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node("gesture_ros_multicam_bench", context=self.context)
        self.pubs = [self.node.create_publisher(Image, f"/cam{k}/image_raw", IMAGE_QOS) for k in range(n)]
        self.back: dict[int, int] = {}  # image stamp -> publish time of its GestureArray (ns)
        for k in range(n):
            self.node.create_subscription(GestureArray, f"/cam{k}/gestures", self._on_gestures, RESULT_QOS)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _on_gestures(self, msg: GestureArray, info: Any) -> None:
        self.back[stamp_key(msg.header.stamp)] = int(info["source_timestamp"]) or time.time_ns()

    def send(self, frame: np.ndarray) -> list[int]:
        """The frame on every camera at once (stamps now + k ns, so each camera's answer is its own)."""
        now = time.time_ns()
        stamps = []
        for k, pub in enumerate(self.pubs):
            s = now + k
            h, w = frame.shape[:2]
            header = Header(stamp=Time(sec=s // 10**9, nanosec=s % 10**9), frame_id=f"cam{k}")
            msg = Image(header=header, height=h, width=w, encoding="bgr8", step=w * 3)
            msg.data = frame.tobytes()
            pub.publish(msg)
            stamps.append(s)
        return stamps

    def wait(self, stamps: list[int], timeout: float) -> list[int | None]:
        deadline = time.monotonic() + timeout
        while not all(s in self.back for s in stamps) and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.005)
        return [self.back.pop(s, None) for s in stamps]

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_setup(setup: str, n: int, frames: list[np.ndarray], timeout: float = 10.0) -> dict[str, Any]:
    """One setup for ``n`` cameras: start-up, 10 warm-up frames, then every frame in closed loop."""
    cams = Cameras(n)
    procs = node_processes(setup, n)
    try:
        t0 = time.monotonic()
        # the first frame again until every camera's answer is back (slow to come while DDS discovers)
        while not all(b is not None for b in cams.wait(cams.send(frames[0]), 3.0)):
            if any(p.poll() is not None for p in procs.values()):
                raise RuntimeError(f"a node of {setup} with {n} camera(s) exited during start-up")
            if time.monotonic() - t0 > 120:
                raise RuntimeError(f"{setup} with {n} camera(s) did not answer within 120 s")
        startup_s = time.monotonic() - t0
        for f in frames[:10]:
            cams.wait(cams.send(f), timeout)
        cpu0 = sum(cpu_seconds(p.pid) for p in procs.values())
        lat: list[float] = []
        lost = 0
        t1 = time.monotonic()
        for f in frames:
            stamps = cams.send(f)
            for s, b in zip(stamps, cams.wait(stamps, timeout), strict=True):
                lost += b is None
                lat.append((b - s) / 1e6 if b is not None else float("nan"))
        wall = time.monotonic() - t1
        cpu = sum(cpu_seconds(p.pid) for p in procs.values()) - cpu0
        return {
            "setup": setup,
            "cameras": n,
            "processes": len(procs),
            "fps_per_camera": len(frames) / wall,
            "latency_ms_p50": float(np.nanmedian(lat)),
            "latency_ms_p90": float(np.nanpercentile(lat, 90)),
            "cpu_ms_per_camera_frame": 1e3 * cpu / (len(frames) * n),
            "peak_rss_mb": sum(peak_rss_mb(p.pid) for p in procs.values()),
            "startup_s": startup_s,
            "lost": lost,
        }
    finally:
        _stop(procs)
        with suppress(Exception):
            cams.close()


def _median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs of a setup: the median of each figure."""
    row = dict(runs[0])
    for k, v in row.items():
        if isinstance(v, float):
            row[k] = float(np.median([r[k] for r in runs]))
    row["lost"] = sum(r["lost"] for r in runs)
    row["runs"] = len(runs)
    return row


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'cameras':>7}  {'setup':<20} {'fps/camera':>10} {'p50 ms':>8} {'p90 ms':>8} {'CPU ms/frame':>12} "
          f"{'memory MB':>9} {'processes':>9}")  # fmt: skip
    for r in rows:
        print(f"{r['cameras']:>7}  {r['setup']:<20} {r['fps_per_camera']:>10.1f} {r['latency_ms_p50']:>8.1f} "
              f"{r['latency_ms_p90']:>8.1f} {r['cpu_ms_per_camera_frame']:>12.1f} {r['peak_rss_mb']:>9.0f} "
              f"{r['processes']:>9}")  # fmt: skip
    for n in sorted({r["cameras"] for r in rows}):
        one, many = (next(r for r in rows if r["cameras"] == n and r["setup"] == s) for s in SETUPS)
        print(f"{n} camera(s): one node / one per camera: fps {one['fps_per_camera'] / many['fps_per_camera']:.2f}x, "
              f"memory {one['peak_rss_mb'] / many['peak_rss_mb']:.2f}x, "
              f"p50 latency {one['latency_ms_p50'] / many['latency_ms_p50']:.2f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gesture_ros.bench.multicam", description=__doc__.split("\n\n")[0])
    p.add_argument("--cameras", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--frames", type=int, default=40, help="frames of the sample video per setup (640x480)")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    frames = clip(str(paths.share_dir() / "samples" / "hands_demo.mp4"), (640, 480), args.frames)
    rows = []
    for n in args.cameras:  # each setup twice, in A B B A order: drift in the machine's speed hits both alike
        runs: dict[str, list[dict[str, Any]]] = {s: [] for s in SETUPS}
        for s in (*SETUPS, *reversed(SETUPS)):
            runs[s].append(run_setup(s, n, frames))
        rows += [_median_row(r) for r in runs.values()]
    print_table(rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"rows": rows, "frames": len(frames), "size": [640, 480]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

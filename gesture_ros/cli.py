"""``gesture-ros``: the package's command line (bring-up and helpers).

One row of :data:`COMMANDS` per sub-command (:mod:`gesture_ros.commands`); each ``_run_*``
function does its work through the library and returns 0, and errors are the library's typed
errors, turned into one line and an exit code by :func:`gesture_ros.commands.run` alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import commands
from .commands import Command
from .core.errors import ConfigError


def launch_values(items: list[str]) -> dict[str, str]:
    """``name:=value`` launch arguments as a mapping."""
    values = {}
    for item in items:
        if ":=" not in item:
            raise ConfigError(f"launch arguments are name:=value, got {item!r}")
        k, v = item.split(":=", 1)
        values[k] = v
    return values


def _up_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", help="graph file, e.g. config/graph_fused.yaml")
    p.add_argument("arguments", nargs="*", help="launch arguments name:=value")
    p.add_argument(
        "--triton-repo",
        help="start the local tritonserver on this model repository for the graph and classify through it",
    )
    p.add_argument("--triton-venv", default=".venv-triton", help="the Triton venv (bash scripts/setup_triton.sh)")
    p.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[], help="passed to every node")


def _run_up(args: argparse.Namespace) -> int:
    from .bringup import up

    # rcl accepts several --ros-args blocks; the extra block goes after the params files
    extra = [a for a in args.ros_args if a != "--ros-args"] or None
    values = launch_values(args.arguments)
    if not args.triton_repo:
        return up(args.graph, values, extra)
    from .triton_server import start

    server = start(args.triton_repo, args.triton_venv)
    print(
        f"[gesture-ros] tritonserver (pid {server.process.pid}) on {args.triton_repo} at {server.grpc_url}", flush=True
    )
    try:
        return up(args.graph, {**values, "classifier_backend": "triton", "triton_url": server.grpc_url}, extra)
    finally:
        server.stop()


def _args_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph")


def _run_args(args: argparse.Namespace) -> int:
    from .graph import load_graph

    for a in load_graph(args.graph).arguments.values():
        print(f"{a.name}:={a.default!r:<28} {a.description}")
    return 0


def _make_bag_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="video file or image folder")
    p.add_argument("out", help="output bag directory (must not exist)")
    p.add_argument("--topic", default="/camera/image_raw")
    p.add_argument("--frame-id", default="camera")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps")
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    p.add_argument("--compressed", action="store_true", help="write sensor_msgs/CompressedImage (JPEG)")
    p.add_argument("--labels", help="folder of KITTI label files named like the images (stored in the bag)")
    p.add_argument(
        "--depth",
        type=float,
        help="also write a synthetic aligned depth image (a plane at this many metres) and a CameraInfo per frame",
    )


def _run_make_bag(args: argparse.Namespace) -> int:
    from .bags import make_bag

    n = make_bag(
        args.source,
        Path(args.out),
        topic=args.topic,
        frame_id=args.frame_id,
        rate=args.rate,
        storage=args.storage,
        compressed=args.compressed,
        labels=Path(args.labels) if args.labels else None,
        depth=args.depth,
    )
    print(f"wrote {n} frames on {args.topic} to {args.out}" + (f" with depth {args.depth} m" if args.depth else ""))
    return 0


def _record_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="output bag directory (must not exist)")
    p.add_argument("--topics", nargs="*", default=["/gestures", "/hands/detections", "/gestures/events"])
    p.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    p.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")


def _run_record(args: argparse.Namespace) -> int:
    from .bags import record

    counts = record(
        Path(args.out),
        args.topics,
        storage=args.storage,
        duration=args.duration,
        on_ready=lambda: print(f"recording {', '.join(args.topics)} to {args.out}", flush=True),
    )
    print("recorded " + ", ".join(f"{t}: {n}" for t, n in counts.items()))
    return 0


def _eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag")
    p.add_argument("--labels", help="labels JSON (default: the bag's gesture_ros_labels.json)")
    p.add_argument("--out", default="out/eval", help="report directory (report.json, summary.md, PNGs)")
    p.add_argument("--params-file", default="config/gesture_ros.yaml")
    p.add_argument("--topics", nargs="*")
    p.add_argument("--recorded", help="a bag recorded from the live graph: compare its /gestures frame by frame")
    p.add_argument(
        "--modes",
        nargs="*",
        default=[],
        metavar="INTERVAL,REUSE",
        help="also run these speed modes (detector.interval,classifier.reuse_frames, e.g. 2,3 4,5) and report "
        "their speed and agreement with the every-frame pipeline",
    )


def _run_eval(args: argparse.Namespace) -> int:
    from .evaluation import compare_recording, evaluate_bag, write_report

    out = Path(args.out)
    modes = [_mode(m) for m in args.modes]
    rep = evaluate_bag(
        Path(args.bag),
        Path(args.labels) if args.labels else None,
        out,
        args.params_file,
        topics=args.topics,
        modes=modes,
    )
    if args.recorded:
        rep["live"] = live = compare_recording(rep, Path(args.recorded))
        write_report(rep, out)
        print(
            f"live recording: {live['recorded_frames']}/{live['frames']} frames, identical: {live['identical']}, "
            f"dropped: {len(live['dropped_stamps'])}, mismatched: {len(live['mismatched_stamps'])}"
        )
    print((out / "summary.md").read_text())
    print(f"report: {out / 'report.json'} ({rep['frames']} frames)")
    return 0


def _mode(text: str) -> tuple[int, int]:
    """``"2,3"`` -> (interval 2, reuse 3)."""
    try:
        interval, reuse = (int(x) for x in text.split(","))
    except ValueError:
        raise ConfigError(f"a speed mode is INTERVAL,REUSE (two integers, e.g. 2,3), got {text!r}") from None
    if interval < 0 or reuse < 0:
        raise ConfigError(f"a speed mode's interval and reuse are >= 0, got {text!r}")
    return interval, reuse


def _replay_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag")
    p.add_argument("--rate", type=float, default=1.0, help="speed factor")
    p.add_argument("--loop", action="store_true")
    p.add_argument("--start-offset", type=float, default=0.0, help="seconds into the bag to start at")
    p.add_argument("--topics", nargs="*", help="image / CameraInfo topics to play (default: all)")
    p.add_argument("--remap", nargs="*", default=[], help="old:=new topic remappings")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument(
        "--wait-for-subscribers", type=int, default=0, help="wait until each topic has this many subscribers"
    )


def _run_replay(args: argparse.Namespace) -> int:
    from .bags import replay

    n = replay(
        Path(args.bag),
        rate=args.rate,
        loop=args.loop,
        start_offset=args.start_offset,
        remap=launch_values(args.remap),
        topics=args.topics,
        clock=not args.no_clock,
        wait_for_subscribers=args.wait_for_subscribers,
    )
    print(f"replayed {n} messages from {args.bag}")
    return 0


def _triton_server_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", default="model_repo", help="model repository (gesture-train triton-repo)")
    p.add_argument("--venv", default=".venv-triton", help="the Triton venv (bash scripts/setup_triton.sh)")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)


def _run_triton_server(args: argparse.Namespace) -> int:
    from .triton_server import serve

    return serve(
        args.repo, args.venv, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port
    )


def _bench_arguments(p: argparse.ArgumentParser) -> None:
    """None here: the benchmark parses its own (``python -m gesture_ros.bench --help``)."""


def _run_bench(args: argparse.Namespace) -> int:
    from .bench.run import main as bench

    return bench(args.options)


COMMANDS: tuple[Command, ...] = (
    Command("up", "start a graph description (config/graph_*.yaml) like ros2 launch", _up_arguments, _run_up),
    Command("args", "list a graph's launch arguments", _args_arguments, _run_args),
    Command("make-bag", "turn a video file or an image folder into a rosbag2 bag", _make_bag_arguments, _run_make_bag),
    Command(
        "record",
        "record topics (default: the pipeline outputs) to a rosbag2 bag until Ctrl-C",
        _record_arguments,
        _run_record,
    ),
    Command("eval", "run the pipeline on every frame of a bag offline and report metrics", _eval_arguments, _run_eval),
    Command(
        "replay",
        "publish a bag's image and CameraInfo topics with the recorded timing and /clock",
        _replay_arguments,
        _run_replay,
    ),
    Command(
        "triton-server",
        "run the local CPU tritonserver (pytriton wheel) on a model repository until Ctrl-C",
        _triton_server_arguments,
        _run_triton_server,
    ),
    Command(
        "bench",
        "performance benchmark (python -m gesture_ros.bench --help)",
        _bench_arguments,
        _run_bench,
        passthrough=True,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """Every sub-command and its arguments (also what tests/test_readme.py parses the README's
    commands with)."""
    return commands.build_parser("gesture-ros", __doc__.split("\n")[0], COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one sub-command; a typed error is one line on stderr and its exit code."""
    return commands.run("gesture-ros", build_parser(), COMMANDS, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())

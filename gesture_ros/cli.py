"""``gesture-ros``: the package's command line (bring-up and helpers)."""

from __future__ import annotations

import argparse
import sys

from .core.errors import GestureRosError


def _launch_values(items: list[str]) -> dict[str, str]:
    values = {}
    for item in items:
        if ":=" not in item:
            raise GestureRosError(f"launch arguments are name:=value, got {item!r}")
        k, v = item.split(":=", 1)
        values[k] = v
    return values


def build_parser() -> argparse.ArgumentParser:
    """Every sub-command and its arguments (also what tests/test_readme.py parses the README's
    commands with)."""
    parser = argparse.ArgumentParser(prog="gesture-ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a graph description (config/graph_*.yaml) like ros2 launch")
    p_up.add_argument("graph", help="graph file, e.g. config/graph_fused.yaml")
    p_up.add_argument("arguments", nargs="*", help="launch arguments name:=value")
    p_up.add_argument("--triton-repo", help="start the local tritonserver on this model repository for the graph and classify through it")
    p_up.add_argument("--triton-venv", default=".venv-triton", help="the Triton venv (bash scripts/setup_triton.sh)")
    p_up.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[], help="passed to every node")
    p_args = sub.add_parser("args", help="list a graph's launch arguments")
    p_args.add_argument("graph")
    p_mk = sub.add_parser("make-bag", help="turn a video file or an image folder into a rosbag2 bag")
    p_mk.add_argument("source", help="video file or image folder")
    p_mk.add_argument("out", help="output bag directory (must not exist)")
    p_mk.add_argument("--topic", default="/camera/image_raw")
    p_mk.add_argument("--frame-id", default="camera")
    p_mk.add_argument("--rate", type=float, default=10.0, help="frames per second of the stamps")
    p_mk.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    p_mk.add_argument("--compressed", action="store_true", help="write sensor_msgs/CompressedImage (JPEG)")
    p_mk.add_argument("--labels", help="folder of KITTI label files named like the images (stored in the bag)")
    p_rec = sub.add_parser("record", help="record topics (default: the pipeline outputs) to a rosbag2 bag until Ctrl-C")
    p_rec.add_argument("out", help="output bag directory (must not exist)")
    p_rec.add_argument("--topics", nargs="*", default=["/gestures", "/hands/detections", "/gestures/events"])
    p_rec.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    p_rec.add_argument("--duration", type=float, default=0.0, help="stop after this many seconds (0: until Ctrl-C)")
    p_ev = sub.add_parser("eval", help="run the pipeline on every frame of a bag offline and report metrics")
    p_ev.add_argument("bag")
    p_ev.add_argument("--labels", help="labels JSON (default: the bag's gesture_ros_labels.json)")
    p_ev.add_argument("--out", default="out/eval", help="report directory (report.json, summary.md, PNGs)")
    p_ev.add_argument("--params-file", default="config/gesture_ros.yaml")
    p_ev.add_argument("--topics", nargs="*")
    p_ev.add_argument("--recorded", help="a bag recorded from the live graph: compare its /gestures frame by frame")
    p_rp = sub.add_parser("replay", help="publish a bag's image topics with the recorded timing and /clock")
    p_rp.add_argument("bag")
    p_rp.add_argument("--rate", type=float, default=1.0, help="speed factor")
    p_rp.add_argument("--loop", action="store_true")
    p_rp.add_argument("--start-offset", type=float, default=0.0, help="seconds into the bag to start at")
    p_rp.add_argument("--topics", nargs="*", help="image topics to play (default: all)")
    p_rp.add_argument("--remap", nargs="*", default=[], help="old:=new topic remappings")
    p_rp.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p_rp.add_argument("--wait-for-subscribers", type=int, default=0, help="wait until each topic has this many subscribers")
    p_tr = sub.add_parser("triton-server", help="run the local CPU tritonserver (pytriton wheel) on a model repository until Ctrl-C")
    p_tr.add_argument("--repo", default="model_repo", help="model repository (gesture-train triton-repo)")
    p_tr.add_argument("--venv", default=".venv-triton", help="the Triton venv (bash scripts/setup_triton.sh)")
    p_tr.add_argument("--http-port", type=int, default=8000)
    p_tr.add_argument("--grpc-port", type=int, default=8001)
    p_tr.add_argument("--metrics-port", type=int, default=8002)
    sub.add_parser("bench", help="performance benchmark (python -m gesture_ros.bench --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every option belongs to the benchmark's own parser
        from .bench.run import main as bench

        return bench(argv[1:])
    args = parser.parse_args(argv)
    try:
        if args.command == "triton-server":
            return _triton_server(args)
        if args.command == "up":
            from .bringup import up

            extra = [a for a in args.ros_args if a != "--ros-args"]
            if not args.triton_repo:
                # rcl accepts several --ros-args blocks; the extra block goes after the params files
                return up(args.graph, _launch_values(args.arguments), extra or None)
            from .triton_server import start

            try:
                server = start(args.triton_repo, args.triton_venv)
            except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
                print(f"gesture-ros up: cannot start tritonserver: {exc}", file=sys.stderr)
                return 2
            print(f"[gesture-ros] tritonserver (pid {server.process.pid}) on {args.triton_repo} at {server.grpc_url}", flush=True)
            try:
                values = {**_launch_values(args.arguments), "classifier_backend": "triton", "triton_url": server.grpc_url}
                return up(args.graph, values, extra or None)
            finally:
                server.stop()
        if args.command == "make-bag":
            from pathlib import Path

            from .bags import make_bag

            n = make_bag(
                args.source, Path(args.out), topic=args.topic, frame_id=args.frame_id, rate=args.rate,
                storage=args.storage, compressed=args.compressed, labels=Path(args.labels) if args.labels else None,
            )  # fmt: skip
            print(f"wrote {n} frames on {args.topic} to {args.out}")
            return 0
        if args.command == "record":
            from pathlib import Path

            from .bags import record

            counts = record(
                Path(args.out), args.topics, storage=args.storage, duration=args.duration,
                on_ready=lambda: print(f"recording {', '.join(args.topics)} to {args.out}", flush=True),
            )  # fmt: skip
            print("recorded " + ", ".join(f"{t}: {n}" for t, n in counts.items()))
            return 0
        if args.command == "eval":
            from pathlib import Path

            from .evaluation import evaluate_bag

            rep = evaluate_bag(
                Path(args.bag), Path(args.labels) if args.labels else None, Path(args.out), args.params_file, topics=args.topics
            )
            if args.recorded:
                from .evaluation import compare_recording, write_report

                rep["live"] = compare_recording(rep, Path(args.recorded))
                write_report(rep, Path(args.out))
                live = rep["live"]
                print(f"live recording: {live['recorded_frames']}/{live['frames']} frames, identical: {live['identical']}, "
                      f"dropped: {len(live['dropped_stamps'])}, mismatched: {len(live['mismatched_stamps'])}")  # fmt: skip
            print((Path(args.out) / "summary.md").read_text())
            print(f"report: {Path(args.out) / 'report.json'} ({rep['frames']} frames)")
            return 0
        if args.command == "replay":
            from pathlib import Path

            from .bags import replay

            remap = dict(r.split(":=", 1) for r in args.remap if ":=" in r)
            n = replay(
                Path(args.bag), rate=args.rate, loop=args.loop, start_offset=args.start_offset, remap=remap,
                topics=args.topics, clock=not args.no_clock, wait_for_subscribers=args.wait_for_subscribers,
            )  # fmt: skip
            print(f"replayed {n} messages from {args.bag}")
            return 0
        if args.command == "args":
            from .graph import load_graph

            g = load_graph(args.graph)
            for a in g.arguments.values():
                print(f"{a.name}:={a.default!r:<28} {a.description}")
            return 0
    except GestureRosError as exc:
        print(f"gesture-ros: {exc}", file=sys.stderr)
        return 2
    return 1


def _triton_server(args: argparse.Namespace) -> int:
    import signal
    import time

    from .triton_server import start

    try:
        server = start(args.repo, args.venv, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port)
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        print(f"gesture-ros triton-server: {exc}", file=sys.stderr)
        return 2
    print(
        f"tritonserver (pid {server.process.pid}) on {args.repo}: gRPC {server.grpc_url}, HTTP {server.http_url}; Ctrl-C stops it",
        flush=True,
    )
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        code = server.process.poll()
        server.stop()
    if code is not None and not stop:
        print(f"gesture-ros triton-server: tritonserver exited with {code}:\n{server.log_tail()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

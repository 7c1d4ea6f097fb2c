"""N camera streams against one Triton server with dynamic batching.

    python benchmarks/triton_multistream.py [--streams 1 2 4 8] [--duration 15] [--json out/triton_multistream.json]

Each stream is a separate process that replays the committed sample video's frames with the
hands the default detector found in them (detected once, up front, so the streams measure the
classification path and the server, not N copies of the detector competing for 2 cores) and
classifies every frame's hands in one request through the package's triton backend. The server
runs ONE model instance with a fixed thread count, so any gain with more streams comes from
dynamic batching, not from more threads. Server-side batch sizes come from Triton's statistics
endpoint. All numbers come from one run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def workload(path: Path) -> int:
    """Frames of the sample video + the hands the default detector finds (ROIs), as one .npz."""
    from gesture_ros.core.model_spec import load_models
    from gesture_ros.factory import parameter_values, pipeline

    p = pipeline({**parameter_values(), "classifier.enabled": False}, load_models(ROOT / "config" / "models.yaml"))
    cap = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4"))
    frames, rois = [], []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        hands = [h for h in p.process(frame, "bgr").hands if h.roi_valid]
        if hands:
            frames.append(frame)
            rois.append(np.stack([h.roi for h in hands]).astype(np.float32))
    counts = np.array([len(r) for r in rois], np.int64)
    np.savez(path, frames=np.stack(frames), rois=np.concatenate(rois), counts=counts)  # no pickled objects
    return len(frames)


def worker(args: argparse.Namespace) -> int:
    from gesture_ros.backends import create_backend
    from gesture_ros.core.model_spec import load_models
    from gesture_ros.core.pipeline import GestureClassifier

    spec = load_models(ROOT / "config" / "models.yaml").classifier
    data = np.load(args.data)
    frames, flat, counts = data["frames"], data["rois"], data["counts"]
    rois = np.split(flat, np.cumsum(counts)[:-1])
    cls = GestureClassifier(spec, create_backend("triton", spec.triton_model, url=args.url, timeout_s=5.0))
    while time.time() < args.start_at:
        time.sleep(0.001)
    lat, n_frames, n_cls, i = [], 0, 0, args.offset
    end = args.start_at + args.duration
    while time.time() < end:
        k = i % len(frames)
        t0 = time.perf_counter()
        res = cls.classify(frames[k], "bgr", rois[k])
        lat.append((time.perf_counter() - t0) * 1e3)
        n_frames += 1
        n_cls += len(res)
        i += 1
    Path(args.out).write_text(
        json.dumps({"frames": n_frames, "classifications": n_cls, "latency_ms": lat, "seconds": args.duration})
    )
    cls.backend.close()
    return 0


def model_stats(http_url: str, model: str) -> dict[str, int]:
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats", timeout=10) as r:
        st = json.loads(r.read())["model_stats"][0]
    batches = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in st.get("batch_stats", [])}
    return {
        "inference_count": int(st.get("inference_count", 0)),
        "execution_count": int(st.get("execution_count", 0)),
        **{f"b{k}": v for k, v in batches.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, nargs="*", default=[1, 2, 4, 8])
    ap.add_argument("--duration", type=float, default=15.0, help="seconds per setting")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads of the one server model instance")
    ap.add_argument("--queue-delay-us", type=int, default=2000, help="dynamic batching: max wait for more requests")
    ap.add_argument("--venv", default=str(ROOT / ".venv-triton"))
    ap.add_argument("--json")
    # worker mode (internal)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    from gesture_ros.core.model_spec import load_models
    from gesture_ros.training.cli import main as train_cli
    from gesture_ros.triton_server import start

    spec = load_models(ROOT / "config" / "models.yaml").classifier
    tmp = Path(tempfile.mkdtemp(prefix="triton_multistream_"))
    n = workload(tmp / "work.npz")
    print(f"workload: {n} frames of samples/hands_demo.mp4 with their detected hands", flush=True)
    with contextlib.redirect_stdout(io.StringIO()):  # its JSON summary is not part of the report
        train_cli(
            [
                "triton-repo",
                "--out",
                str(tmp / "repo"),
                "--threads",
                str(args.threads),
                "--instances",
                "1",
                "--max-batch",
                "16",
                "--queue-delay-us",
                str(args.queue_delay_us),
            ]
        )
    rows = []
    with start(tmp / "repo", args.venv) as server:
        for n_streams in args.streams:
            before = model_stats(server.http_url, spec.triton_model)
            start_at = time.time() + 3.0 + 0.3 * n_streams
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        "--data",
                        str(tmp / "work.npz"),
                        "--url",
                        server.grpc_url,
                        "--start-at",
                        str(start_at),
                        "--duration",
                        str(args.duration),
                        "--offset",
                        str(7 * s),
                        "--out",
                        str(tmp / f"s{n_streams}_{s}.json"),
                    ]
                )
                for s in range(n_streams)
            ]
            for p in procs:
                p.wait()
            after = model_stats(server.http_url, spec.triton_model)
            outs = [json.loads((tmp / f"s{n_streams}_{s}.json").read_text()) for s in range(n_streams)]
            lat = np.concatenate([o["latency_ms"] for o in outs])
            execs = after["execution_count"] - before["execution_count"]
            infers = after["inference_count"] - before["inference_count"]
            hist = {
                k: after[k] - before.get(k, 0)
                for k in sorted(after, key=lambda x: (len(x), x))
                if k.startswith("b") and after[k] - before.get(k, 0)
            }
            pct = {f"p{q}": float(np.percentile(lat, q)) for q in (50, 90, 99)}
            rows.append(
                {
                    "streams": n_streams,
                    "fps_per_stream": [o["frames"] / o["seconds"] for o in outs],
                    "aggregate_fps": sum(o["frames"] for o in outs) / args.duration,
                    "aggregate_classifications_per_s": sum(o["classifications"] for o in outs) / args.duration,
                    "latency_ms": pct,
                    "server_mean_batch": infers / max(execs, 1),  # hands per model execution
                    "server_batch_histogram": hist,
                }
            )
            r = rows[-1]
            print(
                f"N={n_streams}: {r['aggregate_classifications_per_s']:.0f} classifications/s, per-stream fps "
                f"{np.mean(r['fps_per_stream']):.1f}, latency p50/p99 "
                f"{r['latency_ms']['p50']:.1f}/{r['latency_ms']['p99']:.1f} ms, "
                f"server mean batch {r['server_mean_batch']:.2f}",
                flush=True,
            )
    base = rows[0]["aggregate_classifications_per_s"]
    for r in rows:
        r["vs_single_stream"] = r["aggregate_classifications_per_s"] / base
    print(
        f"\n{'streams':>7s} {'fps/stream':>10s} {'cls/s':>8s} {'x single':>9s} "
        f"{'p50 ms':>7s} {'p90 ms':>7s} {'p99 ms':>7s} {'batch':>6s}"
    )
    for r in rows:
        lt = r["latency_ms"]
        print(
            f"{r['streams']:7d} {np.mean(r['fps_per_stream']):10.1f} {r['aggregate_classifications_per_s']:8.0f} "
            f"{r['vs_single_stream']:9.2f} {lt['p50']:7.1f} {lt['p90']:7.1f} "
            f"{lt['p99']:7.1f} {r['server_mean_batch']:6.2f}"
        )
    out = {"duration_s": args.duration, "threads": args.threads, "queue_delay_us": args.queue_delay_us, "rows": rows}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

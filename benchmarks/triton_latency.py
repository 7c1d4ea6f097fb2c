"""Added latency of classifying through Triton versus in-process ONNX Runtime (same model, same
ONNX Runtime session settings: the server's Python-backend model runs the same ONNX file with the
same thread count), on real hand crops, batch 1 and 4, p50/p99.

    python benchmarks/triton_latency.py [--iterations 300] [--threads 1] [--json out/triton_latency.json]

Starts the local tritonserver (scripts/setup_triton.sh) on a repository written by
``gesture-train triton-repo`` and stops it at the end. All numbers come from one run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def crops(n: int) -> list[np.ndarray]:
    """Real hand crops: the committed sample video's first frames, centre regions."""
    cap = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4"))
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        out.append(frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4])
    return out


def measure(
    classify: Callable[[np.ndarray, np.ndarray], object], batches: list[tuple[np.ndarray, np.ndarray]], iterations: int
) -> list[float]:
    for img, rois in batches[:5]:
        classify(img, rois)  # warm-up
    times = []
    for i in range(iterations):
        img, rois = batches[i % len(batches)]
        t0 = time.perf_counter()
        classify(img, rois)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p90_ms": float(np.percentile(a, 90)),
        "p99_ms": float(np.percentile(a, 99)),
        "n": len(a),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument(
        "--threads", type=int, default=1, help="ONNX Runtime intra-op threads, in process and in the server"
    )
    ap.add_argument("--venv", default=str(ROOT / ".venv-triton"))
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()

    from gesture_ros.backends import create_backend
    from gesture_ros.core.model_spec import load_models
    from gesture_ros.core.pipeline import GestureClassifier
    from gesture_ros.training.cli import main as train_cli
    from gesture_ros.triton_server import start

    spec = load_models(ROOT / "config" / "models.yaml").classifier
    frames = crops(20)
    batches = {
        b: [(f, np.array([[0, 0, f.shape[1] * (k + 1) / b, f.shape[0]] for k in range(b)], np.float32)) for f in frames]
        for b in (1, 4)
    }
    repo = Path(tempfile.mkdtemp(prefix="triton_latency_")) / "repo"
    with contextlib.redirect_stdout(io.StringIO()):  # its JSON summary is not part of the report
        train_cli(["triton-repo", "--out", str(repo), "--threads", str(args.threads), "--queue-delay-us", "0"])
    results: dict[str, dict[str, dict[str, float]]] = {}
    local = GestureClassifier(spec, create_backend("onnxruntime", ROOT / spec.file, threads=args.threads))
    with start(repo, args.venv) as server:
        variants = {
            "onnxruntime (in process)": local,
            "triton gRPC": GestureClassifier(spec, create_backend("triton", spec.triton_model, url=server.grpc_url)),
            "triton gRPC + shared memory": GestureClassifier(
                spec, create_backend("triton", spec.triton_model, url=server.grpc_url, shared_memory=True)
            ),
            "triton HTTP": GestureClassifier(
                spec, create_backend("triton", spec.triton_model, url=server.http_url, protocol="http")
            ),
            "triton HTTP + shared memory": GestureClassifier(
                spec,
                create_backend("triton", spec.triton_model, url=server.http_url, protocol="http", shared_memory=True),
            ),
        }
        for b in (1, 4):
            # interleave the variants in rounds so machine noise hits them alike
            per: dict[str, list[float]] = {k: [] for k in variants}
            rounds = 5
            for _ in range(rounds):
                for name, cls in variants.items():
                    per[name] += measure(
                        lambda img, rois, c=cls: c.classify(img, "bgr", rois), batches[b], args.iterations // rounds
                    )
            results[f"batch {b}"] = {k: stats(v) for k, v in per.items()}
        for name, cls in variants.items():
            if name != "onnxruntime (in process)":
                cls.backend.close()
    print(f"{'':32s} {'p50 ms':>8s} {'p99 ms':>8s} {'added p50':>10s} {'added p99':>10s}")
    for b, res in results.items():
        base = res["onnxruntime (in process)"]
        print(f"-- {b} (hands per request)")
        for name, r in res.items():
            r["added_p50_ms"] = r["p50_ms"] - base["p50_ms"]
            r["added_p99_ms"] = r["p99_ms"] - base["p99_ms"]
            print(
                f"{name:32s} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['added_p50_ms']:10.2f} {r['added_p99_ms']:10.2f}"
            )
    out = {"iterations": args.iterations, "threads": args.threads, "results": results}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())

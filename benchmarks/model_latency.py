"""ONNX Runtime latency of detector or classifier files side by side, batch 1, on this CPU.

Why interleaved: this VM's speed drifts by tens of percent over minutes; running the models in
turn, one inference each, exposes them to the same drift, so the ratio against the first file
(the baseline) means more than either p50 alone. Input shapes come from each file itself.

    python benchmarks/model_latency.py runs/prev/hand_detector.onnx models/hand_detector.onnx
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gesture_ros.backends.onnxruntime_backend import OnnxRuntimeBackend


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path, help="ONNX files; the first is the baseline")
    ap.add_argument("--runs", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument(
        "--threads", type=int, default=0, help="intra-op threads (0: ONNX Runtime's choice, as the nodes run)"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sessions, feeds = [], []
    for p in args.models:
        s = OnnxRuntimeBackend(p, threads=args.threads)  # the package's own session settings
        inp = s.inputs[0]
        shape = [1 if d < 0 else d for d in inp.shape]
        sessions.append(s)
        feeds.append({inp.name: rng.random(shape, dtype=np.float32)})
    times: list[list[float]] = [[] for _ in sessions]
    for i in range(args.warmup + args.runs):
        for k, (s, feed) in enumerate(zip(sessions, feeds, strict=True)):
            t0 = time.perf_counter()
            s.infer(feed)
            if i >= args.warmup:
                times[k].append((time.perf_counter() - t0) * 1e3)
    base = float(np.median(times[0]))
    rows = []
    for p, t in zip(args.models, times, strict=True):
        p50, p90 = (float(np.percentile(t, q)) for q in (50, 90))
        rows.append(
            {"model": str(p), "p50_ms": p50, "p90_ms": p90, "ratio_vs_first": p50 / base, "bytes": p.stat().st_size}
        )
        print(f"{p}: p50 {p50:.1f} ms, p90 {p90:.1f} ms, {p50 / base:.2f}x the first, {p.stat().st_size / 1e6:.1f} MB")
    if args.json:
        args.json.write_text(json.dumps({"runs": args.runs, "threads": args.threads, "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

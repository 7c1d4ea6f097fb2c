"""MediaPipe Hands on the benchmark's frames, run by the MediaPipe venv's interpreter.

Usage: ``python mediapipe_worker.py SPEC.json OUT.json``. The spec names the frame sources and
sizes (loaded by gesture_ros.bench.frames, so both systems see the same pixels) and the labelled
images for AP (either may be absent). Hand boxes are the min/max of the 21 landmarks, enlarged by
``box_margin`` of their size on each axis (landmarks are joint centres: the min/max box stops short
of the fingertips' and the palm's edges that a labelled box includes); their score is the handedness
score (the legacy API exposes no hand-presence score).
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # gesture_ros.bench.frames, without the package's deps

import cv2
import mediapipe as mp

from gesture_ros.bench import frames as bench_frames


def boxes(result: Any, w: int, h: int, margin: float = 0.0) -> list[list[float]]:
    out = []
    for lm, hd in zip(result.multi_hand_landmarks or [], result.multi_handedness or [], strict=False):
        xs = [p.x * w for p in lm.landmark]
        ys = [p.y * h for p in lm.landmark]
        mx, my = (max(xs) - min(xs)) * margin / 2, (max(ys) - min(ys)) * margin / 2
        x1, y1 = max(0.0, min(xs) - mx), max(0.0, min(ys) - my)
        x2, y2 = min(float(w), max(xs) + mx), min(float(h), max(ys) + my)
        out.append([x1, y1, x2, y2, float(hd.classification[0].score)])
    return out


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    hands = mp.solutions.hands
    report: dict[str, Any] = {"version": mp.__version__, "fps": {}, "detections": {}}
    for name, size in spec.get("sizes", {}).items():
        frames = bench_frames.load(spec["sources"], tuple(size))
        rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
        rounds = []
        cpu0 = time.process_time()
        with hands.Hands(static_image_mode=False, max_num_hands=spec["max_hands_fps"], model_complexity=1) as model:
            for f in rgb[: spec["warmup"]]:
                model.process(f)
            cpu0 = time.process_time()
            for _ in range(spec["rounds"]):
                per_frame = []
                for f in rgb:
                    t0 = time.perf_counter()
                    model.process(f)
                    per_frame.append((time.perf_counter() - t0) * 1e3)
                rounds.append(per_frame)
        cpu_ms = (time.process_time() - cpu0) * 1e3 / max(1, len(rgb) * spec["rounds"])  # all threads
        report["fps"][name] = {"frames": len(rgb), "ms_per_frame": rounds, "cpu_ms_per_frame": cpu_ms}
        del frames, rgb
    gc.collect()
    if spec.get("clips"):  # the speed modes' real clips, in video mode (a fresh tracker per clip)
        c = spec["clips"]
        n, wall, cpu = 0, 0.0, 0.0
        for path in c["paths"]:
            rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in bench_frames.clip(path, tuple(c["size"]), c["frames"])]
            with hands.Hands(static_image_mode=False, max_num_hands=spec["max_hands_fps"], model_complexity=1) as model:
                model.process(rgb[0])
                t0, c0 = time.perf_counter(), time.process_time()
                for f in rgb:
                    model.process(f)
                wall, cpu, n = wall + time.perf_counter() - t0, cpu + time.process_time() - c0, n + len(rgb)
        report["clips"] = {"frames": n, "fps": n / wall, "cpu_ms_per_frame": cpu * 1e3 / n}
    with hands.Hands(
        static_image_mode=True, max_num_hands=spec["max_hands_ap"], model_complexity=1, min_detection_confidence=0.1
    ) as model:
        for path in spec.get("ap_images", []):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read image {path}")
            res = model.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            report["detections"][path] = boxes(res, img.shape[1], img.shape[0], spec.get("box_margin", 0.0))
        # RSS with the model loaded and no frame set held (ru_maxrss would include the parent's: Linux
        # keeps it across fork + exec), comparable to a node's steady RSS
        status = Path("/proc/self/status").read_text().splitlines()
        report["rss_mb"] = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
    Path(sys.argv[2]).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The speed modes on real continuous video: what each lever buys and what it costs.

Every mode (``detector.interval``, ``classifier.reuse_frames``) runs the core pipeline over the
same consecutive frames of real clips (``../shared/videos``); the every-frame pipeline is the
reference. Reported per mode: frames per second, CPU milliseconds per frame (the process's CPU
clock, all threads: on a robot the cores are shared), and agreement with the reference (hands
matched at IoU >= 0.5: recall, precision, gesture agreement), plus how often the detector and the
classifier really ran.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..core.metrics import FrameHands, agreement
from ..core.model_spec import ModelsConfig
from ..core.pipeline import GesturePipeline
from ..factory import camera_pipeline, pipeline
from . import frames as bench_frames

#: (interval, reuse_frames): each lever alone, then together
MODES = ((0, 0), (1, 0), (2, 0), (4, 0), (0, 3), (2, 3), (4, 5))
#: a rosbag2 bag shipped with the tests whose every frame is labelled (tests/data/README.md)
LABELLED_BAG = "tests/data/sample_gestures_bag"


def run_mode(
    base: GesturePipeline, values: dict[str, Any], clips: list[list[Any]], interval: int, reuse: int
) -> dict[str, Any]:
    """One mode over every clip, with ``base``'s models and a fresh state per clip (tracks,
    carried boxes, remembered gestures), as a new stream would get."""
    hands: list[FrameHands] = []
    wall = cpu = 0.0
    counts = {"detector_runs": 0, "frames": 0, "classified": 0, "reused": 0}
    for frames in clips:
        pipe = camera_pipeline(base, {**values, "detector.interval": interval, "classifier.reuse_frames": reuse})
        t0, c0 = time.perf_counter(), time.process_time()
        for f in frames:
            r = pipe.process(f, "bgr")
            hands.append([(h.box, h.gesture.label if h.gesture else None) for h in r.hands])
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        counts["detector_runs"] += pipe.skipper.detected
        counts["frames"] += len(frames)
        counts["classified"] += pipe.memory.classified
        counts["reused"] += pipe.memory.reused
    n = max(1, counts["frames"])
    return {"interval": interval, "reuse_frames": reuse, "fps": n / max(wall, 1e-9), "cpu_ms_per_frame": cpu * 1e3 / n,
            **counts, "hands": hands}  # fmt: skip


def run_modes(
    values: dict[str, Any], models: ModelsConfig, videos: Path, size: tuple[int, int], n: int
) -> dict[str, Any]:
    """Every mode of :data:`MODES` on the first ``n`` frames of each clip of :data:`~.frames.CLIPS`."""
    paths = [str(videos / c) for c in bench_frames.CLIPS if (videos / c).is_file()]
    clips = [bench_frames.clip(p, size, n) for p in paths]
    base = pipeline(values, models)
    for frames in clips:
        base.process(frames[0], "bgr")  # warm-up: the first inference of each size is slow
    rows = [run_mode(base, values, clips, i, r) for i, r in MODES]
    ref = rows[0]
    for row in rows:
        row.update(agreement(ref["hands"], row["hands"]))
        row["fps_vs_every_frame"] = row["fps"] / ref["fps"]
    for row in rows:
        del row["hands"]
    return {"clips": paths, "size": list(size), "frames_per_clip": n, "modes": rows}


def labelled_modes(params_file: str, bag: Path) -> dict[tuple[int, int], dict[str, Any]]:
    """Each mode's hand AP50 and gesture accuracy on a bag whose every frame is labelled
    (``gesture-ros eval --modes``). Every frame there is another photo: a cut on every frame, the
    hardest case for carried boxes and reused gestures; no labelled continuous video exists here."""
    from ..evaluation import evaluate_bag

    report = evaluate_bag(bag, params_file=params_file, modes=list(MODES))
    return {
        (m["interval"], m["reuse_frames"]): {"ap50": m.get("ap50"), "gesture_accuracy": m.get("gesture_accuracy")}
        for m in report["modes"]
    }

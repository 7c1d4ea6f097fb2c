"""Hand AP of the shipped detector and of MediaPipe Hands on each part of the validation, in one run.

The validation is the frames the shipped detector's run held out (``models/metrics.json``: its
validation scenes and ``val_fraction_of``, read by ``datasets.validation_frames``): SubhiH
recording places and HaGRID people at a distance, whole. Each part is scored separately, because
a mean over frames hides the part a robot meets. MediaPipe Hands runs in its own venv in static
mode on the same images; its boxes are the landmarks' min/max enlarged by ``--mp-margin`` (10 %:
landmarks are joint centres, a labelled box reaches the fingertips' and palm's edges).

Usage: ``python -m gesture_ros.bench.parts [--json OUT] [--model X.onnx]`` (``make compare-mediapipe``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from gesture_ros import paths
from gesture_ros.backends import create_backend
from gesture_ros.core.model_spec import load_models, with_file
from gesture_ros.core.pipeline import HandDetector
from gesture_ros.datasets import DetSample, validation_frames
from gesture_ros.factory import parameter_values
from gesture_ros.model_eval import ap_by_group, read_bgr
from gesture_ros.settings import CLUSTERING

from .peer import mediapipe_boxes, run_mediapipe

#: the shared data beside a checkout (tests and benchmarks may read it; users' clones lack it)
SHARED = paths.share_dir().parent / "shared" / "data"

#: MediaPipe's landmark boxes enlarged by this fraction of their size (see the module docstring)
MP_BOX_MARGIN = 0.1

#: scene-name prefix -> the part's name in the table
PARTS = {"hagrid_": "people 0.5-4 m away (HaGRID, unseen people)", "session_": "SubhiH, unseen places (close)"}


def part_of(scene: str) -> str:
    return next((name for prefix, name in PARTS.items() if scene.startswith(prefix)), "other")


def shipped_validation(data_root: Path, metrics: dict[str, Any]) -> list[DetSample]:
    """The frames the shipped detector was validated on (``data_root``: ../shared/data)."""
    cfg = metrics["detector"]["config"]
    return validation_frames(
        data_root / "hands_detect", [data_root], set(metrics["detector"]["val_scenes"]), cfg.get("val_fraction_of", {})
    )


def scores(found: list[tuple[np.ndarray, np.ndarray]], samples: list[DetSample]) -> dict[str, dict[str, float | int]]:
    """AP50 / AP70 per part and over all, for one system's detections on ``samples``."""
    gts = [s.boxes for s in samples]
    return {
        **ap_by_group(found, gts, [part_of(s.scene) for s in samples]),
        **ap_by_group(found, gts, ["all"] * len(samples)),
    }


def shipped_detector(model: Path) -> HandDetector:
    """``model`` in the runtime's HandDetector with the default node parameters."""
    spec = with_file(load_models(paths.share_dir() / "config" / "models.yaml").detector, str(model))
    return HandDetector(spec, create_backend("onnxruntime", model), CLUSTERING.build(parameter_values()))


def run_ours(det: HandDetector, samples: list[DetSample]) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[float]]:
    """Our detections through the runtime's HandDetector, and its ms per frame (pre-processing,
    inference, decoding and clustering; image decoding left out)."""
    det.detect(read_bgr(samples[0].image), "bgr")  # warm-up
    found, ms = [], []
    for s in samples:
        img = read_bgr(s.image)
        t0 = time.perf_counter()
        d = det.detect(img, "bgr")
        ms.append((time.perf_counter() - t0) * 1e3)
        found.append((d.boxes, d.scores))
    return found, ms


def table(result: dict[str, Any]) -> str:
    rows = [
        "| validation part | images / hands | ours AP50 (AP70) | MediaPipe Hands AP50 (AP70) |",
        "|---|---|---|---|",
    ]
    ours, mp = result["ours"], result.get("mediapipe", {})
    for name in [*[n for n in ours if n != "all"], "all"]:
        o, m = ours[name], mp.get(name)
        theirs = f"{m['ap50']:.3f} ({m['ap70']:.3f})" if m else "-"
        rows.append(f"| {name} | {o['images']} / {o['hands']} | {o['ap50']:.3f} ({o['ap70']:.3f}) | {theirs} |")
    rows.append(f"\nour detector: {result['ours_ms_per_frame']:.1f} ms per frame (median, {result['model']})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=None, help="detector ONNX (default: the shipped one)")
    p.add_argument("--data", type=Path, default=SHARED, help="../shared/data")
    p.add_argument("--metrics", type=Path, default=paths.share_dir() / "models" / "metrics.json")
    p.add_argument("--mediapipe-venv", type=Path, default=Path(".venv-mediapipe"), help="'' to skip MediaPipe")
    p.add_argument("--mp-margin", type=float, default=MP_BOX_MARGIN)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    metrics = json.loads(args.metrics.read_text())
    samples = shipped_validation(args.data, metrics)
    if not samples:
        raise SystemExit(f"no validation frames under {args.data} (../shared/data)")
    model = args.model or paths.resolve(load_models(paths.share_dir() / "config" / "models.yaml").detector.file)
    found, ms = run_ours(shipped_detector(model), samples)
    result: dict[str, Any] = {"model": str(model), "ours": scores(found, samples)}
    result["ours_ms_per_frame"] = float(np.median(ms))
    if str(args.mediapipe_venv) not in ("", "."):
        mp = run_mediapipe(args.mediapipe_venv, {"max_hands_ap": 4, "box_margin": args.mp_margin}, samples)
        result["mediapipe"] = scores(mediapipe_boxes(mp, samples), samples)
        result["mediapipe_version"] = mp["version"]
        result["mediapipe_box_margin"] = args.mp_margin
    print(table(result), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

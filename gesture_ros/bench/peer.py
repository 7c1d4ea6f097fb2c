"""MediaPipe Hands, the CPU peer, run in its own venv on the same frames; hand-box AP of both.

AP50 is measured on the labelled detection images of the scenes the shipped detector never saw
in training (the validation scenes its metrics.json records), at their own resolution, with the
same AP function as training and evaluation.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..core.kitti import read_kitti
from ..core.metrics import average_precision
from ..core.pipeline import HandDetector

WORKER = Path(__file__).with_name("mediapipe_worker.py")


def validation_images(data: Path, val_scenes: list[str]) -> list[tuple[Path, Any]]:
    """(image, KITTI boxes) of ``data``/images whose scene (manifest.csv) is a validation scene."""
    import csv

    scenes = {Path(r["image"]).name: r["scene"] for r in csv.DictReader((data / "manifest.csv").open())}
    out = []
    for img in sorted((data / "images").iterdir()):
        if scenes.get(img.name) in val_scenes:
            out.append((img, read_kitti(data / "labels" / f"{img.stem}.txt")[0]))
    return out


def our_ap(detector: HandDetector, images: list[tuple[Path, Any]]) -> dict[str, float]:
    dets, gts = [], []
    for path, gt in images:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f"cannot read image {path}")
        d = detector.detect(img, "bgr")
        dets.append((d.boxes, d.scores))
        gts.append(gt)
    return {"ap50": average_precision(dets, gts, 0.5)["ap"], "ap70": average_precision(dets, gts, 0.7)["ap"]}


def run_mediapipe(venv: Path, spec: dict[str, Any], images: list[tuple[Path, Any]], timeout: float = 900) -> dict[str, Any]:
    """Run the worker; returns its report plus ``ap50``/``ap70`` on ``images``."""
    python = venv / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(f"no MediaPipe venv at {venv}: run `make setup-mediapipe` (bash scripts/setup_mediapipe.sh)")
    with tempfile.TemporaryDirectory(prefix="gesture_ros_bench_mp_") as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps({**spec, "ap_images": [str(p) for p, _ in images]}))
        proc = subprocess.run([str(python), str(WORKER), str(spec_file), str(out_file)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"MediaPipe worker failed ({proc.returncode}): {tail}")
        report: dict[str, Any] = json.loads(out_file.read_text())
    dets, gts = [], []
    for path, gt in images:
        found = np.asarray(report["detections"][str(path)], np.float32).reshape(-1, 5)
        dets.append((found[:, :4], found[:, 4]))
        gts.append(gt)
    report["ap50"] = average_precision(dets, gts, 0.5)["ap"]
    report["ap70"] = average_precision(dets, gts, 0.7)["ap"]
    return report

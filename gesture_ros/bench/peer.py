"""MediaPipe Hands, the CPU peer, run in its own venv on the same frames; hand-box AP of both.

AP50 is measured on the labelled frames of the scenes the shipped detector never saw in training
(``parts.shipped_validation``: the validation its metrics.json records, SubhiH places and HaGRID
people at a distance), at their own resolution, through the runtime's detector and the same AP
function for MediaPipe's boxes, per part (``parts.scores``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gesture_ros.datasets import DetSample

from ..core.metrics import average_precision

WORKER = Path(__file__).with_name("mediapipe_worker.py")


def mediapipe_boxes(report: dict[str, Any], samples: list[DetSample]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The worker's boxes and scores for each sample, in the samples' order."""
    out = []
    for sample in samples:
        found = np.asarray(report["detections"][str(sample.image)], np.float32).reshape(-1, 5)
        out.append((found[:, :4], found[:, 4]))
    return out


def run_mediapipe(venv: Path, spec: dict[str, Any], samples: list[DetSample], timeout: float = 900) -> dict[str, Any]:
    """Run the worker; returns its report plus ``ap50``/``ap70`` on ``samples``."""
    python = venv / "bin" / "python"
    if not python.is_file():
        raise FileNotFoundError(
            f"no MediaPipe venv at {venv}: run `make setup-mediapipe` (bash scripts/setup_mediapipe.sh)"
        )
    with tempfile.TemporaryDirectory(prefix="gesture_ros_bench_mp_") as tmp:
        spec_file, out_file = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_file.write_text(json.dumps({**spec, "ap_images": [str(s.image) for s in samples]}))
        proc = subprocess.run(
            [str(python), str(WORKER), str(spec_file), str(out_file)], capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"MediaPipe worker failed ({proc.returncode}): {tail}")
        report: dict[str, Any] = json.loads(out_file.read_text())
    dets, gts = mediapipe_boxes(report, samples), [sample.boxes for sample in samples]
    report["ap50"] = average_precision(dets, gts, 0.5)["ap"]
    report["ap70"] = average_precision(dets, gts, 0.7)["ap"]
    return report

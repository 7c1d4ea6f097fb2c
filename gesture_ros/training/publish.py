"""Copy trained models into ``models/`` with their metrics: what the package ships as default.

The detector's torch checkpoint ships beside its ONNX file: it is what ``gesture-train detector
--init-from`` needs to fine-tune the default detector on a user's own labelled frames (a few
minutes on a CPU) instead of re-running the whole recipe."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

#: the shipped detector's weights (pruned architecture included), for ``--init-from``
DETECTOR_CHECKPOINT = "hand_detector.pt"


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def publish(detector_run: Path, classifier_run: Path, models_dir: Path) -> dict[str, Any]:
    models_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for key, run, name in (
        ("detector", detector_run, "hand_detector.onnx"),
        ("classifier", classifier_run, "gesture_classifier.onnx"),
    ):
        metrics = json.loads((run / "metrics.json").read_text())
        metrics.pop("history", None)
        dst = models_dir / name
        shutil.copyfile(run / name, dst)
        metrics["file"] = name
        metrics["sha256"] = _sha256(dst)
        out[key] = metrics
    checkpoint = models_dir / DETECTOR_CHECKPOINT
    shutil.copyfile(detector_run / "detector.pt", checkpoint)
    out["detector"]["checkpoint"] = {"file": DETECTOR_CHECKPOINT, "sha256": _sha256(checkpoint)}
    (models_dir / "metrics.json").write_text(json.dumps(out, indent=2) + "\n")
    return out

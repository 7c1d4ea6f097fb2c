"""Copy trained models into ``models/`` with their metrics: what the package ships as default."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def publish(detector_run: Path, classifier_run: Path, models_dir: Path) -> dict[str, Any]:
    models_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for key, run, name in (("detector", detector_run, "hand_detector.onnx"), ("classifier", classifier_run, "gesture_classifier.onnx")):
        metrics = json.loads((run / "metrics.json").read_text())
        metrics.pop("history", None)
        dst = models_dir / name
        shutil.copyfile(run / name, dst)
        metrics["file"] = name
        metrics["sha256"] = _sha256(dst)
        out[key] = metrics
    (models_dir / "metrics.json").write_text(json.dumps(out, indent=2) + "\n")
    return out

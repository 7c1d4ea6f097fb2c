"""Evaluate ONNX models exactly as the nodes run them.

The detector goes through the runtime's :class:`HandDetector` (letterbox pre-processing,
DetectNet_v2 decoder, clustering with the node parameters); the classifier through
:class:`GestureClassifier` on crops made by the runtime ROI expansion. Training calls the same
functions for its validation metrics, so a number in ``metrics.json`` means the same thing as
one from ``gesture-train evaluate-*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .backends import create_backend
from .core.detectnet import ClusterConfig
from .core.metrics import average_precision, classification_metrics
from .core.model_spec import ClassifierSpec, DetectorSpec, with_file
from .core.pipeline import GestureClassifier, HandDetector
from .core.plots import confusion_png, pr_curve_png
from .core.roi import RoiConfig
from .datasets import DetSample, GestureSample, gesture_crop


def read_bgr(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img


def evaluate_detector(
    onnx_path: Path, spec: DetectorSpec, samples: list[DetSample], clustering: ClusterConfig, plot: Path | None = None
) -> dict[str, Any]:
    """AP at IoU 0.5 and 0.7 (TAO's setting), overall and per scene; optional PR-curve PNG."""
    det = HandDetector(with_file(spec, str(onnx_path)), create_backend("onnxruntime", onnx_path), clustering)
    outs, gts, scenes = [], [], []
    for s in samples:
        d = det.detect(read_bgr(s.image), "bgr")
        outs.append((d.boxes, d.scores))
        gts.append(s.boxes)
        scenes.append(s.scene)
    pr50, pr70 = average_precision(outs, gts, 0.5), average_precision(outs, gts, 0.7)
    per_scene = ap_by_group(outs, gts, scenes)
    res: dict[str, Any] = {
        "ap50": pr50["ap"],
        "ap70": pr70["ap"],
        "images": len(samples),
        "boxes": pr50["n_gt"],
        "detections": int(sum(len(o[0]) for o in outs)),
        "per_scene": per_scene,
        "model": str(onnx_path),
    }
    if plot is not None:
        pr_curve_png(
            plot,
            {
                "IoU 0.5": (pr50["precision"], pr50["recall"], pr50["ap"]),
                "IoU 0.7": (pr70["precision"], pr70["recall"], pr70["ap"]),
            },
        )
        res["pr_curve_png"] = str(plot)
    return res


def ap_by_group(
    outs: list[tuple[np.ndarray, np.ndarray]], gts: list[np.ndarray], groups: list[str]
) -> dict[str, dict[str, float | int]]:
    """AP50 / AP70, images and hands of each group of images (``groups[i]``: image i's scene,
    or the part of the validation it belongs to), in sorted group order."""
    out: dict[str, dict[str, float | int]] = {}
    for name in sorted(set(groups)):
        o = [x for x, k in zip(outs, groups, strict=True) if k == name]
        g = [x for x, k in zip(gts, groups, strict=True) if k == name]
        out[name] = {
            "ap50": average_precision(o, g, 0.5)["ap"],
            "ap70": average_precision(o, g, 0.7)["ap"],
            "images": len(o),
            "hands": int(sum(len(b) for b in g)),
        }
    return out


def crop_region(s: GestureSample, roi: RoiConfig) -> np.ndarray:
    """The pixels the runtime would classify for this sample (see :func:`gesture_crop`)."""
    frame, (x1, y1, x2, y2) = gesture_crop(read_bgr(s.image), s.box, roi)
    return np.ascontiguousarray(frame[y1:y2, x1:x2])


def evaluate_classifier(
    onnx_path: Path, spec: ClassifierSpec, samples: list[GestureSample], roi: RoiConfig, plot: Path | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1, confusion and per-scene accuracy; optional confusion-matrix PNG."""
    cls = GestureClassifier(with_file(spec, str(onnx_path)), create_backend("onnxruntime", onnx_path))
    y_true, y_pred, scenes = [], [], []
    for s in samples:
        region = crop_region(s, roi)
        r = cls.classify(region, "bgr", np.array([[0, 0, region.shape[1], region.shape[0]]], np.float32))[0]
        y_true.append(spec.labels.index(s.label))
        y_pred.append(r.class_id if r else len(spec.labels) - 1)
        scenes.append("hand_crops" if s.box is None else s.scene)
    res = classification_metrics(y_true, y_pred, spec.labels)
    res["samples"] = len(samples)
    res["per_scene_accuracy"] = {
        k: float(np.mean([t == p for t, p, x in zip(y_true, y_pred, scenes, strict=True) if x == k]))
        for k in sorted(set(scenes))
    }
    res["model"] = str(onnx_path)
    if plot is not None:
        confusion_png(plot, res["confusion"], list(spec.labels), list(spec.labels))
        res["confusion_png"] = str(plot)
    return res

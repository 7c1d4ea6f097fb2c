"""Detection AP and classification metrics (used by training, evaluation and tests)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .boxes import iou_matrix


def average_precision(
    dets: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    gts: list[npt.NDArray[np.float32]],
    iou_threshold: float = 0.5,
) -> dict[str, Any]:
    """VOC all-point AP over images: ``dets[i] = (boxes, scores)``, ``gts[i] = boxes``."""
    records: list[tuple[float, bool]] = []
    n_gt = sum(len(g) for g in gts)
    for (boxes, scores), gt in zip(dets, gts, strict=True):
        order = np.argsort(-scores)
        used = np.zeros(len(gt), bool)
        iou = iou_matrix(boxes[order], gt) if len(gt) and len(boxes) else np.zeros((len(boxes), len(gt)))
        for k, i in enumerate(order):
            hit = False
            if len(gt):
                cand = np.where(used, -1.0, iou[k])
                j = int(np.argmax(cand))
                if cand[j] >= iou_threshold:
                    used[j], hit = True, True
            records.append((float(scores[i]), hit))
    if n_gt == 0:
        return {"ap": float("nan"), "precision": [], "recall": [], "n_gt": 0}
    records.sort(key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in records]) if records else np.zeros(0)
    fp = np.cumsum([not r[1] for r in records]) if records else np.zeros(0)
    recall = tp / n_gt if len(tp) else np.zeros(0)
    precision = tp / np.maximum(tp + fp, 1) if len(tp) else np.zeros(0)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    idx = np.where(mrec[1:] != mrec[:-1])[0]
    ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    return {"ap": ap, "precision": precision.tolist(), "recall": recall.tolist(), "n_gt": n_gt}


def classification_metrics(y_true: list[int], y_pred: list[int], labels: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""
    k = len(labels)
    conf = np.zeros((k, k), int)
    for t, p in zip(y_true, y_pred, strict=True):
        conf[t, p] += 1
    per_class = {}
    f1s = []
    for i, name in enumerate(labels):
        tp = conf[i, i]
        prec = tp / conf[:, i].sum() if conf[:, i].sum() else 0.0
        rec = tp / conf[i].sum() if conf[i].sum() else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[name] = {
            "precision": float(prec),
            "recall": float(rec),
            "f1": float(f1),
            "support": int(conf[i].sum()),
        }
        if conf[i].sum():
            f1s.append(f1)
    return {
        "accuracy": float(np.trace(conf) / max(1, conf.sum())),
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "confusion": conf.tolist(),
        "labels": list(labels),
        "per_class": per_class,
    }


#: one frame's hands for :func:`agreement`: (box x1,y1,x2,y2, gesture label or None)
FrameHands = list[tuple[npt.ArrayLike, str | None]]


def agreement(reference: list[FrameHands], test: list[FrameHands], iou: float = 0.5) -> dict[str, Any]:
    """How a faster mode agrees with the every-frame pipeline on the same frames.

    Per frame, hands are matched greedily by IoU (>= ``iou``): ``recall`` is the share of the
    reference's hands found, ``precision`` the share of the mode's hands that the reference has,
    ``label_agreement`` the share of matched pairs, both classified, with the same gesture.
    """
    tp = fp = fn = same = both = 0
    for ref, got in zip(reference, test, strict=True):
        if not ref or not got:
            fn, fp = fn + len(ref), fp + len(got)
            continue
        m = iou_matrix(np.array([b for b, _ in ref], np.float32), np.array([b for b, _ in got], np.float32))
        used_r: set[int] = set()
        used: set[int] = set()
        for flat in np.argsort(-m, axis=None):  # pairs by IoU, best first
            i, j = divmod(int(flat), m.shape[1])
            if m[i, j] < iou:
                break
            if i in used_r or j in used:
                continue
            used_r.add(i)
            used.add(j)
            a, b = ref[i][1], got[j][1]
            if a is not None and b is not None:
                both += 1
                same += a == b
        tp += len(used)
        fn += len(ref) - len(used)
        fp += len(got) - len(used)
    return {
        "frames": len(reference),
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "label_agreement": same / both if both else 1.0,
        "matched": tp,
        "reference_hands": tp + fn,
    }

"""Offline, deterministic evaluation of a bag: every frame through the same pipeline the fused
node runs (gesture_ros.factory), no DDS, then hand AP and gesture precision/recall/F1 against
the bag's labels, with JSON, PNG plots and a Markdown summary.

Everything except the timings (``latency_ms``, ``speed``, and each mode's ``fps`` and
``cpu_ms_per_frame``) is identical on every run of the same bag.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .bags import LABELS_JSON, BagError, BagMessage, read_images, typestore
from .core.boxes import iou_matrix
from .core.errors import ConfigError
from .core.image import Image as Frame
from .core.image import PixelOrder, decode_compressed, image_view
from .core.metrics import FrameHands, agreement, average_precision, classification_metrics
from .core.model_spec import load_models
from .core.pipeline import GesturePipeline
from .core.plots import confusion_png, pr_curve_png
from .factory import camera_pipeline, parameter_values, pipeline
from .paths import resolve

NO_HAND = "no_hand"


def decode(m: BagMessage, ts: Any) -> tuple[Frame, PixelOrder, int]:
    """The image of a bag message, its pixel order and its header stamp (ns)."""
    msg = ts.deserialize_cdr(m.cdr, m.msgtype)
    stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
    if m.msgtype.endswith("CompressedImage"):
        return (*decode_compressed(msg.data), stamp)
    return (*image_view(msg.encoding, msg.height, msg.width, msg.step, msg.data), stamp)


def run_offline(
    bag: Path, pipe: GesturePipeline, topics: list[str] | None = None
) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Per-frame outputs (by stamp) and per-stage timings of every image in the bag."""
    ts = typestore()
    frames: list[dict[str, Any]] = []
    timings: dict[str, list[float]] = {}
    for m in read_images(bag, topics):
        image, order, stamp = decode(m, ts)
        res = pipe.process(image, order)
        for k, v in res.timings.as_dict().items():
            timings.setdefault(k, []).append(v)
        frames.append(
            {
                "stamp_ns": stamp,
                "topic": m.topic,
                "hands": [
                    {
                        "box": [round(float(v), 3) for v in h.box],
                        "score": round(h.score, 6),
                        "gesture": h.gesture.label if h.gesture else "",
                        "confidence": round(h.gesture.confidence, 6) if h.gesture else 0.0,
                        "track_id": h.track_id,
                    }
                    for h in res.hands
                ],
            }
        )
    return frames, timings


def load_truth(path: Path) -> dict[int, list[tuple[str, list[float]]]]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"labels file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"labels file {path} is not valid JSON: {exc}") from None
    return {int(k): [(str(o[0]), [float(v) for v in o[1:5]]) for o in v] for k, v in raw.items()}


def score(
    frames: list[dict[str, Any]], truth: dict[int, list[tuple[str, list[float]]]], gesture_labels: tuple[str, ...]
) -> dict[str, Any]:
    """Hand AP (class-agnostic) and gesture metrics on the labelled frames."""
    dets, gts = [], []
    y_true: list[int] = []
    y_pred: list[int] = []
    cols = (*gesture_labels, NO_HAND)
    for f in frames:
        if f["stamp_ns"] not in truth:
            continue
        objs = truth[f["stamp_ns"]]
        boxes = np.array([h["box"] for h in f["hands"]], np.float32).reshape(-1, 4)
        gt = np.array([b for _, b in objs], np.float32).reshape(-1, 4)
        dets.append((boxes, np.array([h["score"] for h in f["hands"]], np.float32)))
        gts.append(gt)
        iou = iou_matrix(gt, boxes) if len(boxes) and len(gt) else np.zeros((len(gt), len(boxes)))
        for i, (cls, _) in enumerate(objs):
            if cls not in gesture_labels:
                continue
            y_true.append(gesture_labels.index(cls))
            j = int(np.argmax(iou[i])) if iou.shape[1] else -1
            hit = j >= 0 and iou[i, j] >= 0.5 and f["hands"][j]["gesture"] in gesture_labels
            y_pred.append(gesture_labels.index(f["hands"][j]["gesture"]) if hit else len(gesture_labels))
    ap50, ap70 = average_precision(dets, gts, 0.5), average_precision(dets, gts, 0.7)
    gestures = classification_metrics(y_true, y_pred, cols) if y_true else {}
    if gestures:  # the no_hand column is a miss, not a class
        gestures["confusion"] = [row for row, name in zip(gestures["confusion"], cols, strict=True) if name != NO_HAND]
        gestures["per_class"].pop(NO_HAND, None)
        f1s = [v["f1"] for v in gestures["per_class"].values() if v["support"]]
        gestures["macro_f1"] = float(np.mean(f1s)) if f1s else 0.0
        gestures["missed_hands"] = int(sum(p == len(gesture_labels) for p in y_pred))
    return {
        "labelled_frames": len(gts),
        "hands": {
            "ap50": ap50["ap"],
            "ap70": ap70["ap"],
            "n_gt": ap50["n_gt"],
            "pr50": {"precision": ap50["precision"], "recall": ap50["recall"]},
        },
        "gestures": gestures,
    }


def evaluate_bag(
    bag: Path,
    labels: Path | None = None,
    out: Path | None = None,
    params_file: str = "config/gesture_ros.yaml",
    models_file: str | None = None,
    topics: list[str] | None = None,
    modes: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """Every frame of the bag through the pipeline the params file describes, scored against the
    labels when there are any. ``modes``: also run each (``detector.interval``,
    ``classifier.reuse_frames``) and report its speed and its agreement with the every-frame
    pipeline."""
    values = parameter_values(params_file)
    models = load_models(resolve(models_file or values["models_file"]))
    pipe = pipeline(values, models)
    t0, c0 = time.perf_counter(), time.process_time()
    frames, timings = run_offline(bag, pipe, topics)
    speed = _speed(len(frames), time.perf_counter() - t0, time.process_time() - c0)
    labels = labels or bag / LABELS_JSON
    truth = load_truth(labels) if labels.exists() else {}
    if not frames:
        raise BagError(f"bag {bag} has no frames")
    report: dict[str, Any] = {"bag": str(bag), "frames": len(frames), "labels": str(labels) if truth else None}
    report.update(score(frames, truth, models.classifier.labels) if truth else {"labelled_frames": 0})
    report["latency_ms"] = {
        k: {"mean": float(np.mean(v)), "p50": float(np.percentile(v, 50)), "p90": float(np.percentile(v, 90))}
        for k, v in timings.items()
    }
    report["speed"] = {
        "interval": values["detector.interval"],
        "reuse_frames": values["classifier.reuse_frames"],
        **speed,
    }
    if modes:  # agreement with the every-frame pipeline: this run's, or one more run when it skipped frames
        every = {"detector.interval": 0, "classifier.reuse_frames": 0}
        ref = (
            frames
            if all(values[k] == v for k, v in every.items())
            else run_offline(bag, camera_pipeline(pipe, {**values, **every}), topics)[0]
        )
        labels_of = models.classifier.labels
        report["modes"] = [_mode(bag, pipe, values, topics, ref, truth, labels_of, i, r) for i, r in modes]
    report["per_frame"] = frames
    if out is not None:
        write_report(report, out)
    return report


def _speed(n: int, wall: float, cpu: float) -> dict[str, float]:
    return {"fps": n / max(wall, 1e-9), "cpu_ms_per_frame": cpu * 1e3 / max(n, 1)}


def _hands(frames: list[dict[str, Any]]) -> list[FrameHands]:
    return [[(h["box"], h["gesture"] or None) for h in f["hands"]] for f in frames]


def _mode(
    bag: Path,
    base: GesturePipeline,
    values: dict[str, Any],
    topics: list[str] | None,
    reference: list[dict[str, Any]],
    truth: dict[int, list[tuple[str, list[float]]]],
    labels: tuple[str, ...],
    interval: int,
    reuse: int,
) -> dict[str, Any]:
    """One speed mode over the bag: frames/s, CPU per frame, agreement with the every-frame run
    (and the labelled scores when there are labels). It runs ``base``'s models (loaded and warm
    once for every mode) with fresh state, as a new stream would get."""
    pipe = camera_pipeline(base, {**values, "detector.interval": interval, "classifier.reuse_frames": reuse})
    t0, c0 = time.perf_counter(), time.process_time()
    frames, _ = run_offline(bag, pipe, topics)
    row: dict[str, Any] = {"interval": interval, "reuse_frames": reuse}
    row.update(_speed(len(frames), time.perf_counter() - t0, time.process_time() - c0))
    row.update(agreement(_hands(reference), _hands(frames)))
    row["detector_runs"] = pipe.skipper.detected
    if truth:
        scored = score(frames, truth, labels)
        row["ap50"] = scored["hands"]["ap50"]
        row["gesture_accuracy"] = (scored.get("gestures") or {}).get("accuracy")
    return row


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    lines = [
        f"# Evaluation of `{report['bag']}`",
        "",
        f"- frames: {report['frames']}, labelled: {report['labelled_frames']}",
    ]
    if "hands" in report:
        hd = report["hands"]
        lines.append(f"- hands: AP50 {hd['ap50']:.3f}, AP70 {hd['ap70']:.3f} over {hd['n_gt']} labelled hands")
        pr_curve_png(
            out / "pr_curve.png", {"hands @IoU 0.5": (hd["pr50"]["precision"], hd["pr50"]["recall"], hd["ap50"])}
        )
    g = report.get("gestures") or {}
    if g:
        lines += [
            f"- gestures: accuracy {g['accuracy']:.3f}, macro-F1 "
            f"{g['macro_f1']:.3f}, hands not found: {g['missed_hands']}",
            "",
            "| class | precision | recall | F1 | support |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
            for k, v in g["per_class"].items()
        ]
        confusion_png(out / "confusion.png", g["confusion"], list(g["labels"][:-1]), list(g["labels"]))
    lines += ["", "| stage | mean ms | p50 ms | p90 ms |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['mean']:.2f} | {v['p50']:.2f} | {v['p90']:.2f} |" for k, v in report["latency_ms"].items()]
    if report.get("modes"):
        sp = report["speed"]
        lines += [
            "",
            f"Speed modes against the every-frame pipeline (this run: interval {sp['interval']}, reuse "
            f"{sp['reuse_frames']}, {sp['fps']:.1f} frames/s, CPU {sp['cpu_ms_per_frame']:.1f} ms/frame); hands "
            "matched at IoU 0.5:",
            "",
            "| interval | reuse | frames/s | CPU ms/frame | recall | precision | gesture agreement "
            "| detector runs | AP50 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in report["modes"]:
            ap = f"{m['ap50']:.3f}" if m.get("ap50") is not None else "-"
            lines.append(
                f"| {m['interval']} | {m['reuse_frames']} | {m['fps']:.1f} | {m['cpu_ms_per_frame']:.1f} | "
                f"{m['recall']:.3f} | {m['precision']:.3f} | {m['label_agreement']:.3f} | "
                f"{m['detector_runs']}/{m['frames']} | {ap} |"
            )
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def compare_recording(report: dict[str, Any], recorded: Path, topic: str = "/gestures") -> dict[str, Any]:
    """Frame-by-frame comparison of a live recording (GestureArray) with the offline run.

    Frames the live graph did not publish are listed as dropped (by stamp); frames whose hands
    (gesture label, box to 0.01 px) differ are listed as mismatched.
    """
    from .bags import read_messages

    live: dict[int, list[tuple[str, list[float]]]] = {}
    for msg in read_messages(recorded, topic):
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        live[stamp] = [
            (g.label, [g.hand.box.x_min, g.hand.box.y_min, g.hand.box.x_max, g.hand.box.y_max]) for g in msg.gestures
        ]
    dropped, mismatched = [], []
    for f in report["per_frame"]:
        stamp = f["stamp_ns"]
        if stamp not in live:
            dropped.append(stamp)
            continue
        offline = [(h["gesture"], h["box"]) for h in f["hands"]]
        same = len(offline) == len(live[stamp]) and all(
            a[0] == b[0] and np.allclose(a[1], b[1], atol=0.01) for a, b in zip(offline, live[stamp], strict=True)
        )
        if not same:
            mismatched.append(stamp)
    offline_stamps = {f["stamp_ns"] for f in report["per_frame"]}
    return {
        "recorded": str(recorded),
        "frames": len(report["per_frame"]),
        "recorded_frames": len(live),
        "dropped_stamps": dropped,
        "mismatched_stamps": mismatched,
        "unexpected_stamps": sorted(set(live) - offline_stamps),
        "identical": not dropped and not mismatched and len(live) == len(offline_stamps),
    }

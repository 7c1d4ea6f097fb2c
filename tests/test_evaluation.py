"""Offline evaluation of bags: deterministic, equal to the fused pipeline, scored correctly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ros_harness import ROOT

from gesture_ros.bags import LABELS_JSON, make_bag
from gesture_ros.evaluation import evaluate_bag, score

SAMPLE = ROOT / "tests" / "data" / "sample_gestures_bag"
LABELS = ("thumbs_up", "fist", "stop", "ok", "two", "random")


def _strip(report: dict) -> dict:
    """The report without its timings (the only part that may differ between runs)."""
    timing = ("fps", "cpu_ms_per_frame")
    out = {k: v for k, v in report.items() if k not in ("latency_ms", "speed")}
    out["modes"] = [{k: v for k, v in m.items() if k not in timing} for m in report.get("modes", [])]
    return out


def test_sample_bag_evaluation_is_deterministic_and_complete(tmp_path: Path) -> None:
    a = evaluate_bag(SAMPLE, out=tmp_path / "a", modes=[(2, 3)])
    b = evaluate_bag(SAMPLE, out=tmp_path / "b", modes=[(2, 3)])
    assert _strip(a) == _strip(b)  # same numbers on every run (timings aside), speed modes included
    assert a["frames"] == 20 and a["labelled_frames"] == 20 and a["hands"]["n_gt"] == 26
    assert 0.0 <= a["hands"]["ap50"] <= 1.0 and a["gestures"]["labels"][-1] == "no_hand"
    assert set(a["latency_ms"]) == {"pre_ms", "infer_ms", "post_ms", "classify_ms"}
    for name in ("report.json", "summary.md", "pr_curve.png", "confusion.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert json.loads((tmp_path / "a" / "report.json").read_text())["frames"] == 20
    assert "AP50" in (tmp_path / "a" / "summary.md").read_text()


def test_scoring_on_hand_made_frames() -> None:
    truth = {
        1: [("fist", [0, 0, 10, 10]), ("stop", [50, 50, 60, 60])],
        2: [("two", [0, 0, 10, 10])],
        3: [("ok", [0, 0, 10, 10])],
    }
    frames = [
        {"stamp_ns": 1, "hands": [{"box": [0, 0, 10, 10], "score": 0.9, "gesture": "fist"}, {"box": [51, 50, 61, 60], "score": 0.8, "gesture": "two"}]},
        {"stamp_ns": 2, "hands": [{"box": [0, 0, 10, 10], "score": 0.7, "gesture": "two"}, {"box": [80, 80, 90, 90], "score": 0.6, "gesture": "ok"}]},
        {"stamp_ns": 3, "hands": []},
        {"stamp_ns": 4, "hands": [{"box": [0, 0, 10, 10], "score": 0.9, "gesture": "fist"}]},  # unlabelled frame: ignored
    ]  # fmt: skip
    r = score(frames, truth, LABELS)
    assert r["labelled_frames"] == 3 and r["hands"]["n_gt"] == 4
    # detections by score: 0.9 hit, 0.8 hit (IoU 0.82), 0.7 hit, 0.6 miss; ok never found
    assert r["hands"]["ap50"] == pytest.approx(0.75)
    g = r["gestures"]
    assert g["missed_hands"] == 1 and g["accuracy"] == pytest.approx(0.5)
    conf = np.array(g["confusion"])
    assert conf[LABELS.index("stop"), LABELS.index("two")] == 1 and conf[LABELS.index("ok"), -1] == 1
    assert g["per_class"]["fist"]["f1"] == 1.0 and g["per_class"]["two"]["precision"] == 0.5


def test_eval_cli_and_bad_labels(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gesture_ros.cli", "eval", str(SAMPLE), "--out", str(tmp_path / "r")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "AP50" in out.stdout, out.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    out = subprocess.run(
        [sys.executable, "-m", "gesture_ros.cli", "eval", str(SAMPLE), "--labels", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "is not valid JSON" in out.stderr and "Traceback" not in out.stderr


def test_make_bag_stores_labels_by_stamp(tmp_path: Path) -> None:
    import cv2

    imgs, labels = tmp_path / "imgs", tmp_path / "labels"
    imgs.mkdir()
    labels.mkdir()
    for i in range(2):
        cv2.imwrite(str(imgs / f"f{i}.png"), np.zeros((10, 10, 3), np.uint8))
    (labels / "f1.txt").write_text("fist 0.00 0 0.00 1 2 3 4 0 0 0 0 0 0 0\n")
    make_bag(str(imgs), tmp_path / "bag", rate=1.0, labels=labels)
    truth = json.loads((tmp_path / "bag" / LABELS_JSON).read_text())
    assert list(truth.values()) == [[], [["fist", 1.0, 2.0, 3.0, 4.0]]]


def test_eval_reports_each_speed_mode_against_the_every_frame_run(tmp_path: Path) -> None:
    """Issue 23: `gesture-ros eval --modes` runs the bag again per mode and reports its speed,
    CPU per frame and agreement with the first run (and the labelled scores)."""
    import json

    out = subprocess.run(
        [sys.executable, "-m", "gesture_ros.cli", "eval", str(SAMPLE), "--out", str(tmp_path / "r"), "--modes", "0,0", "2,3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    same, fast = rep["modes"]
    n = rep["frames"]
    assert (same["recall"], same["precision"], same["label_agreement"]) == (1.0, 1.0, 1.0)  # deterministic
    assert same["detector_runs"] == n and same["frames"] == n
    assert -(-n // 3) <= fast["detector_runs"] < n and fast["cpu_ms_per_frame"] > 0 and fast["fps"] > 0
    assert 0.0 <= fast["recall"] <= 1.0 and ("ap50" in fast) == ("hands" in rep)
    assert "| 2 | 3 |" in (tmp_path / "r" / "summary.md").read_text()
    bad = subprocess.run([sys.executable, "-m", "gesture_ros.cli", "eval", str(SAMPLE), "--modes", "2x3"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "a speed mode is INTERVAL,REUSE" in bad.stderr

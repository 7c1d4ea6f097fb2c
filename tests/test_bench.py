"""The benchmark end to end on a few frames: real ONNX Runtime, real node processes over DDS,
real MediaPipe in its own venv (make setup-mediapipe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parent.parent
MP_VENV = ROOT / ".venv-mediapipe"


@pytest.mark.slow
def test_bench_writes_ratios_table_and_chart(tmp_path: Path, shared_data: Path) -> None:
    if not (MP_VENV / "bin" / "python").is_file():
        pytest.fail("no .venv-mediapipe: run `make setup-mediapipe` (make test does)")
    from gesture_ros.settings import PARAMS

    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "gesture_ros.cli", "bench", "--json", str(out), "--sizes", "640x480", "--clip-frames", "6", "--rounds", "1",
           "--graphs", "fused", "--rss-frames", "30",
           "--ap-data", str(shared_data), "--mediapipe-venv", str(MP_VENV),
           "--videos", str(shared_data.parent / "videos"), "--mode-frames", "12"]  # fmt: skip
    tmp = tmp_path / "tmp"  # where the bench writes the graphs' parameter files
    tmp.mkdir()
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=400, env={**os.environ, "TMPDIR": str(tmp)}
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("core_vs_raw", "fused_vs_raw", "fps_vs_mediapipe"):
        assert 0.05 < res["ratios"][key] < 20, (key, res["ratios"])
    e = res["sizes"]["640x480"]
    assert e["frames"] == 56 + 2 * 6  # every frame of the sample video + the first frames of two real clips
    # the parameters' default speed mode runs, and the raw pass runs the models where the core pass did
    mode = res["speed_mode"]
    assert mode == {
        "interval": PARAMS["detector.interval"].default,
        "reuse_frames": PARAMS["classifier.reuse_frames"].default,
    }
    assert -(-e["frames"] // (mode["interval"] + 1)) <= e["detector_frames"] < e["frames"]
    assert e["raw"]["fps"] > 0 and e["core"]["fps"] > 0 and e["fused"]["fps"] > 0 and e["mediapipe"]["fps"] > 0
    assert e["fused"]["lost"] == 0 and e["fused"]["latency_p50_ms"] > 0
    # open loop too: outputs' latency while the camera outruns the node, and a 30 Hz camera's frames
    assert e["fused"]["open_loop"]["latency_p50_ms"] > 0 and e["fused"]["open_loop"]["published"][0] > 1
    cam = e["fused"]["camera"]
    assert cam["camera_hz"] == 30.0 and 1 < cam["processed"] <= cam["frames"] == e["frames"]
    assert cam["latency_p90_ms"] >= cam["latency_p50_ms"] > 0 and cam["cpu_ms_per_frame"] > 0
    assert "fused, camera at 30 Hz:" in proc.stdout
    assert 0 < e["fused"]["startup_s"] < 60
    assert set(e["core"]["stages_ms_p50"]) == {"convert", "pre", "infer", "post", "classify"}
    assert {"convert", "pre", "infer", "post", "classify", "publish"} <= set(
        e["fused"]["stages_ms_p50"]["gesture_pipeline"]
    )
    assert len(e["fused"]["rss"]["curve"]) >= 2 and e["fused"]["peak_rss_mb"]["gesture_pipeline"] > 50
    assert e["core"]["cpu_ms_per_frame"] > 0 and e["mediapipe"]["cpu_ms_per_frame"] > 0
    # the speed modes: every mode on the same real clips, the every-frame mode agrees with itself
    m = res["speed_modes"]
    assert len(m["clips"]) == 2 and m["mediapipe"]["fps"] > 0
    rows = {(r["interval"], r["reuse_frames"]): r for r in m["modes"]}
    assert rows[(0, 0)]["recall"] == rows[(0, 0)]["precision"] == rows[(0, 0)]["label_agreement"] == 1.0
    assert rows[(0, 0)]["detector_runs"] == rows[(0, 0)]["frames"] == 24 and rows[(0, 0)]["reused"] == 0
    for (interval, reuse), r in rows.items():  # the detector ran at most every (interval + 1)-th frame, plus lost boxes
        assert r["detector_runs"] >= -(-12 // (interval + 1)) * 2 and r["cpu_ms_per_frame"] > 0
        assert (r["reused"] > 0) == (reuse > 0) or r["classified"] == 0
        assert 0.0 <= r["recall"] <= 1.0 and 0.0 <= r["precision"] <= 1.0
    assert "speed modes: 2 real clips x 12 frames" in proc.stdout
    # and each mode's AP50 where every frame is labelled (the sample bag: a new photo on every frame)
    assert m["labelled_bag"].endswith("sample_gestures_bag")
    assert all(0.0 <= r["bag_ap50"] <= 1.0 and 0.0 <= r["bag_gesture_accuracy"] <= 1.0 for r in rows.values())
    assert rows[(0, 0)]["bag_ap50"] > 0.5
    assert not list(tmp.glob("gesture_ros_bench_fused_*"))  # the graph's parameter files are removed
    # both systems' hand AP on the validation frames of the shipped detector, per part too
    assert res["hand_ap"]["images"] > 10
    assert 0.3 < res["hand_ap"]["ours"]["ap50"] <= 1 and 0 <= res["mediapipe"]["ap50"] <= 1
    parts = res["hand_ap"]["parts"]
    assert parts["ours"]["all"]["images"] == res["hand_ap"]["images"]
    assert parts["mediapipe"]["all"]["ap50"] == pytest.approx(res["mediapipe"]["ap50"])
    assert res["mediapipe"]["rss_mb"] > 20
    chart = cv2.imread(str(out.with_suffix(".png")))
    assert chart is not None and chart.shape[1] > 500
    assert "fused node / DDS" in proc.stdout and "ratios:" in proc.stdout


def test_the_raw_pass_runs_the_models_where_the_core_pass_does(models) -> None:
    """The raw pass is the core pass's limit: the detector on the same frames (every
    (interval+1)-th, more after a cut), the classifier on as many crops, in the default speed mode
    and in the every-frame one."""
    from gesture_ros import paths
    from gesture_ros.bench import frames as bench_frames
    from gesture_ros.bench.inproc import as_messages, core_pass, raw_pass, schedule
    from gesture_ros.factory import camera_pipeline, parameter_values, pipeline

    values = parameter_values()
    pipe = pipeline(values, models)
    video = [(str(paths.share_dir() / "samples" / "hands_demo.mp4"), 20)]  # 8 frames per photo: two cuts
    frames = as_messages(bench_frames.load(video, (640, 480)))
    calls = {"det": 0, "crops": 0}
    assert pipe.classifier is not None
    det_infer, cls_infer = pipe.detector.backend.infer, pipe.classifier.backend.infer

    def count_det(feed):
        calls["det"] += 1
        return det_infer(feed)

    def count_cls(feed):
        calls["crops"] += len(next(iter(feed.values())))
        return cls_infer(feed)

    pipe.detector.backend.infer, pipe.classifier.backend.infer = count_det, count_cls  # type: ignore[method-assign]
    for mode in ({}, {"detector.interval": 0, "classifier.reuse_frames": 0}):
        v = {**values, **mode}
        schedule(camera_pipeline(pipe, v), frames)
        runs, crops = sum(f.detect for f in frames), sum(f.hands for f in frames)
        calls.update(det=0, crops=0)
        core_pass(camera_pipeline(pipe, v), frames)
        assert (calls["det"], calls["crops"]) == (runs, crops)  # a fresh pass repeats the schedule
        calls.update(det=0, crops=0)
        raw_pass(pipe, frames)
        assert (calls["det"], calls["crops"]) == (runs, crops)
        interval = int(v["detector.interval"])
        assert -(-len(frames) // (interval + 1)) <= runs <= len(frames) and crops > 0
        assert (runs == len(frames)) == (interval == 0)


def test_per_part_ap_scores_each_part_on_its_own() -> None:
    """``parts.scores``: a part whose hands are all found scores 1, one whose hands are all
    missed scores 0, and "all" pools the two; a scene no part names goes to "other"."""
    import numpy as np

    from gesture_ros.bench.parts import PARTS, scores
    from gesture_ros.datasets import DetSample

    box = np.array([[10, 10, 50, 60]], np.float32)
    far, near = (next(n for p, n in PARTS.items() if p == prefix) for prefix in ("hagrid_", "session_"))
    samples = [DetSample(Path(f"{k}.jpg"), box, ("hand",), scene) for k, scene in
               enumerate(["hagrid_u1", "hagrid_u2", "session_16", "session_25", "asl_letters"])]  # fmt: skip
    hit, miss = (box, np.array([0.9], np.float32)), (box[:0], np.zeros(0, np.float32))
    res = scores([hit, hit, miss, miss, hit], samples)
    assert res[far]["ap50"] == 1.0 and res[far]["images"] == 2 and res[far]["hands"] == 2
    assert res[near]["ap50"] == 0.0 and res["other"]["ap50"] == 1.0
    assert res["all"]["images"] == 5 and 0.0 < res["all"]["ap50"] < 1.0


@pytest.mark.slow
def test_compare_mediapipe_prints_the_per_part_table(tmp_path: Path, shared_data: Path) -> None:
    """``make compare-mediapipe``: both systems on every part of the shipped detector's
    validation in one run; our figure is the one training recorded (same frames, same decoder)."""
    if not (MP_VENV / "bin" / "python").is_file():
        pytest.fail("no .venv-mediapipe: run `make setup-mediapipe` (make test does)")
    out = tmp_path / "parts.json"
    cmd = [sys.executable, "-m", "gesture_ros.bench.parts", "--json", str(out), "--data", str(shared_data),
           "--mediapipe-venv", str(MP_VENV)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads(out.read_text())
    metrics = json.loads((ROOT / "models" / "metrics.json").read_text())["detector"]
    parts = [p for p in res["ours"] if p != "all"]
    assert parts and set(res["mediapipe"]) == set(res["ours"])
    assert sum(res["ours"][p]["images"] for p in parts) == res["ours"]["all"]["images"]
    assert res["ours"]["all"]["ap50"] == pytest.approx(metrics["val"]["ap50"], abs=0.02)
    for system in ("ours", "mediapipe"):
        assert all(0.0 <= r["ap50"] <= 1.0 and 0.0 <= r["ap70"] <= r["ap50"] + 1e-9 for r in res[system].values())
    assert res["ours_ms_per_frame"] > 0 and res["mediapipe_box_margin"] == 0.1
    assert "| validation part | images / hands |" in proc.stdout

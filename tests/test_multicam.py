"""Several cameras in one fused node (issue 25, part 3): one copy of each model, one namespace
per camera, the cameras' frames detected in one batched call."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gesture_ros import factory
from gesture_ros.core.pipeline import detect_frames
from gesture_ros.nodes.cameras import namespaces, under

ROOT = Path(__file__).resolve().parent.parent


def _frames() -> list[np.ndarray]:
    """Real frames of the sample video at two sizes (cameras differ)."""
    cap = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4"))
    out = []
    for i in range(40):
        ok, img = cap.read()
        assert ok
        if i % 10 == 5:
            out.append(img if len(out) % 2 else cv2.resize(img, (1280, 720)))
    return out


def test_one_batched_call_finds_what_each_frame_alone_finds(models) -> None:
    """detect_batch over frames of two sizes equals detect on each; so does the one-frame-per-call
    path a model with a fixed batch of 1 takes."""
    det = factory.detector(factory.parameter_values(None), models)
    frames = [(f, "bgr") for f in _frames()]
    alone = [det.detect(f, o) for f, o in frames]
    assert sum(len(d.boxes) for d in alone) >= 4
    for fixed in (0, 1):
        det.fixed_batch = fixed
        together = det.detect_batch(frames)
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_camera_pipelines_share_the_models_not_the_tracks(models) -> None:
    values = factory.parameter_values(None)
    values["detector.interval"] = 2
    first = factory.pipeline(values, models)
    second = factory.camera_pipeline(first, values)
    assert second.detector is first.detector and second.classifier is first.classifier
    assert second.tracking is not first.tracking and second.skipper is not first.skipper
    frames = [(f, "bgr") for f in _frames()[:2]]
    d1 = detect_frames([first, second], frames)
    d2 = detect_frames([first, second], frames)  # interval 2: both cameras carry their boxes
    assert first.skipper.detected == second.skipper.detected == 1
    assert first.skipper.carried == second.skipper.carried == 1
    assert len(d1) == len(d2) == 2
    first.process(*frames[0], 0.0, d1[0])
    assert first.tracking is not None and second.tracking is not None


def test_namespaces() -> None:
    assert namespaces("") == [""]
    assert namespaces(" front, /rear/ ,") == ["front", "rear"]
    with pytest.raises(ValueError, match="twice"):
        namespaces("a,a")
    assert under("front", "gestures") == "front/gestures" and under("", "gestures") == "gestures"


@pytest.mark.dds
def test_three_cameras_in_one_node_over_dds(tmp_path: Path, synthetic, reference) -> None:
    """One fused node with ``multi_camera.namespaces: cam0,cam1,cam2``: each camera's scene comes
    back on its own ``camK/gestures`` with its own header, equal to the single-camera pipeline's
    answer; frames of one camera alone still come back (a silent camera holds nobody up)."""
    from gesture_ros_msgs.msg import GestureArray
    from ros_harness import WARMUP_NS, Harness, encode, stamp_ns
    from sensor_msgs.msg import Image
    from test_graph_dds import _start, scene

    h = Harness()
    g = _start("config/graph_fused.yaml", synthetic, tmp_path, "image_raw", cameras="cam0,cam1,cam2")
    try:
        pubs = [h.publisher(Image, f"/cam{k}/image_raw") for k in range(3)]
        outs = [h.subscribe(GestureArray, f"/cam{k}/gestures") for k in range(3)]
        assert h.spin_until(lambda: all(p.get_subscription_count() >= 1 for p in pubs), 30), g.log()
        h.handshake(lambda k: [p.publish(encode(scene("red", 0, 0), "bgr8", WARMUP_NS + k)) for p in pubs], *outs)
        colours = ["red", "green", "blue"]
        t0 = 1_950_000_000_000_000_000
        for i in range(3):
            imgs = [scene(colours[(k + i) % 3], 30 + 40 * k, 50) for k in range(3)]
            for k, p in enumerate(pubs):
                p.publish(encode(imgs[k], "bgr8", t0 + i * 10**8 + k, frame_id=f"cam{k}_optical"))
            assert h.spin_until(lambda i=i: all(len(o) > i for o in outs), 20), g.log()
            for k, o in enumerate(outs):
                m = o[i]
                assert stamp_ns(m.header) == t0 + i * 10**8 + k and m.header.frame_id == f"cam{k}_optical"
                want = reference.process(imgs[k], "bgr").hands
                assert [x.label for x in m.gestures] == [hand.gesture.label for hand in want]
        # one camera alone (the others silent): answered after the batch wait, not held up
        before = len(outs[1])
        pubs[1].publish(encode(scene("green", 100, 100), "bgr8", t0 + 10**9, frame_id="cam1_optical"))
        assert h.spin_until(lambda: len(outs[1]) > before, 10), g.log()
        assert len(outs[0]) == 3 and len(outs[2]) == 3
        assert g.proc.poll() is None and g.log().count("hand detector: openvino") == 1  # one model, loaded once
    finally:
        g.stop()
        h.close()


@pytest.mark.slow
def test_the_multi_camera_bench_runs_and_measures(tmp_path: Path) -> None:
    """``python -m gesture_ros.bench.multicam`` for 1 and 2 cameras on 5 frames: every setup
    answers every frame, and one node serving two cameras holds less memory than two nodes
    (one copy of the models and of the Python/ROS runtime instead of two)."""
    import json

    from gesture_ros.bench.multicam import SETUPS, main

    out = tmp_path / "multicam.json"
    assert main(["--cameras", "1", "2", "--frames", "5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["cameras"], r["setup"]) for r in rows] == [(n, s) for n in (1, 2) for s in SETUPS]
    assert all(r["lost"] == 0 and r["fps_per_camera"] > 0 and r["latency_ms_p50"] > 0 for r in rows)
    by = {(r["cameras"], r["setup"]): r for r in rows}
    assert by[2, SETUPS[0]]["processes"] == 1 and by[2, SETUPS[1]]["processes"] == 2
    assert by[2, SETUPS[0]]["peak_rss_mb"] < by[2, SETUPS[1]]["peak_rss_mb"]

"""The speed levers (issue 23): boxes carried by optical flow between detector runs, gestures
reused while a track's box stays, and the agreement metric that measures what they cost."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from gesture_ros.core.boxflow import BoxFlow
from gesture_ros.core.classify import GestureResult
from gesture_ros.core.detectnet import Detections
from gesture_ros.core.metrics import agreement
from gesture_ros.core.speed import FrameSkipper, GestureMemory, IntervalConfig, ReuseConfig
from gesture_ros.core.tracking import HandTracking, TrackingConfig


@pytest.fixture(scope="module")
def frame(shared_data) -> np.ndarray:
    """A real textured frame (a hand on a table), 640x480."""
    path = sorted((shared_data / "hands_detect" / "images").glob("*.jpg"))[0]
    return cv2.resize(cv2.imread(str(path)), (640, 480))


def _warp(
    img: np.ndarray, dx: float, dy: float, scale: float = 1.0, centre: tuple[float, float] = (320, 240)
) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, 0.0, scale)
    m[:, 2] += (dx, dy)
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize(
    ("dx", "dy", "scale"), [(12.0, -7.0, 1.0), (-20.0, 5.0, 1.0), (0.0, 0.0, 1.15), (6.0, 4.0, 0.9)]
)
def test_a_box_follows_the_image_it_sits_on(frame: np.ndarray, dx: float, dy: float, scale: float) -> None:
    """The frame moved by a known translation and zoom: the box moves and scales with it (within
    2 px at 640x480, after the flow ran on a 320-pixel copy)."""
    box = np.array([[250.0, 170.0, 390.0, 310.0]], np.float32)
    flow = BoxFlow()
    flow.reset(frame, "bgr")
    moved, ok = flow.move(_warp(frame, dx, dy, scale), "bgr", box)
    c = np.array([320.0, 240.0])
    want = np.concatenate([(box[0, :2] - c) * scale + c + (dx, dy), (box[0, 2:] - c) * scale + c + (dx, dy)])
    assert ok.all()
    np.testing.assert_allclose(moved[0], want, atol=2.0)


def test_a_box_whose_content_is_gone_is_lost(frame: np.ndarray) -> None:
    box = np.array([[250.0, 170.0, 390.0, 310.0]], np.float32)
    flow = BoxFlow()
    flow.reset(frame, "bgr")
    noise = np.random.default_rng(0).integers(0, 255, frame.shape, dtype=np.uint8)
    _, ok = flow.move(noise, "bgr", box)
    assert not ok.any()


def test_the_detector_runs_every_interval_plus_one_frames_and_when_a_box_is_lost(frame: np.ndarray) -> None:
    skipper = FrameSkipper(IntervalConfig(interval=2))
    dets = Detections(
        np.array([[250.0, 170.0, 390.0, 310.0]], np.float32), np.array([0.9], np.float32), np.zeros(1, np.int32)
    )
    ran = []
    for k in range(7):  # a slowly moving scene
        image = _warp(frame, 2.0 * k, 0.0)
        carried = skipper.carry(image, "bgr")
        if carried is None:
            ran.append(k)
            skipper.detections(image, "bgr", dets)
    assert ran == [0, 3, 6]
    noise = np.random.default_rng(1).integers(0, 255, frame.shape, dtype=np.uint8)
    assert skipper.carry(noise, "bgr") is None  # lost: the caller detects at once
    assert skipper.detected == 3 and skipper.carried == 4
    every = FrameSkipper(IntervalConfig(interval=0))
    every.detections(frame, "bgr", dets)
    assert every.carry(frame, "bgr") is None  # interval 0: the detector runs on every frame


def _result(label: str) -> GestureResult:
    return GestureResult(0, label, 0.9, np.ones(1, np.float32))


def test_a_tracks_gesture_is_reused_while_its_box_stays_and_for_at_most_k_frames() -> None:
    memory = GestureMemory(ReuseConfig(frames=2, iou=0.7))
    box = np.array([100.0, 100.0, 200.0, 200.0], np.float32)
    memory.remember([4], [box], [_result("stop")])
    assert [g.label if g else None for g in memory.reuse([4], [box + 3])] == ["stop"]  # stayed
    assert [g.label if g else None for g in memory.reuse([4], [box])] == ["stop"]
    assert memory.reuse([4], [box]) == [None]  # k = 2 reuses, then classified again
    memory.remember([4], [box], [_result("fist")])
    assert memory.reuse([4], [box + 60]) == [None]  # moved: classified again
    assert memory.reuse([5], [box]) == [None]  # another track
    memory.remember([5], [box], [None])  # track 4 ended: forgotten
    assert memory.reuse([4], [box]) == [None]
    memory = GestureMemory(ReuseConfig(frames=0))
    memory.remember([4], [box], [_result("stop")])
    assert memory.reuse([4], [box]) == [None]  # 0 frames: off


def _labels(results: list[GestureResult | None]) -> list[str | None]:
    return [g.label if g else None for g in results]


def test_a_gesture_is_not_reused_when_its_crop_changed(frame: np.ndarray) -> None:
    """The box stays but what is in it changed (a fist that opens, another scene at the same
    place): classified again. Sensor noise or a drift of a few pixels keeps the gesture."""
    from gesture_ros.core.speed import LOOK_SIZE, look

    roi = np.array([200.0, 150.0, 360.0, 310.0], np.float32)
    memory = GestureMemory(ReuseConfig(frames=10, iou=0.7, change=12.0))
    memory.remember([1], [roi], [_result("fist")], [look(frame, roi)])
    rng = np.random.default_rng(0)
    noisy = np.clip(frame.astype(np.int16) + rng.integers(-8, 9, frame.shape), 0, 255).astype(np.uint8)
    assert _labels(memory.reuse([1], [roi], [look(noisy, roi)])) == ["fist"]
    drifted = _warp(frame, 3.0, -2.0)  # 3 px of a 160-px crop: 15 % of one thumbnail cell
    assert _labels(memory.reuse([1], [roi], [look(drifted, roi)])) == ["fist"]
    changed = frame.copy()
    changed[150:310, 200:360] = 255 - changed[150:310, 200:360]  # the same place, other content
    assert memory.reuse([1], [roi], [look(changed, roi)]) == [None]
    assert look(frame, roi).shape == (LOOK_SIZE, LOOK_SIZE, 3)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert look(grey, roi).shape == (LOOK_SIZE, LOOK_SIZE, 1) == look(grey[..., None], roi).shape  # mono
    edge = np.array([-40.0, -30.0, 50.0, 60.0], np.float32)  # a ROI over the frame's corner
    assert look(frame, edge).shape == (LOOK_SIZE, LOOK_SIZE, 3)


def test_a_restarted_skipper_runs_the_detector_on_the_next_frame(frame: np.ndarray) -> None:
    """A detector setting changed (a node's clustering parameters): boxes found under the old
    setting are not carried on."""
    skipper = FrameSkipper(IntervalConfig(4))
    skipper.detections(
        frame,
        "bgr",
        Detections(np.array([[250, 170, 390, 310]], np.float32), np.ones(1, np.float32), np.zeros(1, np.int32)),
    )
    assert skipper.carry(frame, "bgr") is not None
    skipper.restart()
    assert skipper.carry(frame, "bgr") is None


def test_agreement_counts_matches_misses_extras_and_labels() -> None:
    a, b = [0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]
    ref = [[(a, "stop"), (b, "fist")], [(a, None)], []]
    got = [[(a, "stop"), (b, "like")], [], [(b, "fist")]]
    r = agreement(ref, got)
    assert r["matched"] == 2 and r["reference_hands"] == 3
    assert r["recall"] == pytest.approx(2 / 3) and r["precision"] == pytest.approx(2 / 3)
    assert r["label_agreement"] == pytest.approx(0.5)


def test_the_pipeline_with_both_levers_keeps_every_hand_on_a_still_scene(models, frame: np.ndarray) -> None:
    """On a scene that does not move, the levers must not lose or invent hands: the carried and
    reused results equal the every-frame ones, with the detector and classifier run less."""
    from gesture_ros import paths
    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import GestureClassifier, GesturePipeline, HandDetector
    from gesture_ros.factory import parameter_values
    from gesture_ros.settings import CLUSTERING, ROI

    values = parameter_values()

    def make(interval: int, reuse: int) -> GesturePipeline:
        det = HandDetector(
            models.detector,
            create_backend("onnxruntime", paths.resolve(models.detector.file)),
            CLUSTERING.build(values),
        )
        cls = GestureClassifier(models.classifier, create_backend("onnxruntime", paths.resolve(models.classifier.file)))
        return GesturePipeline(
            det, cls, ROI.build(values), HandTracking(TrackingConfig()), IntervalConfig(interval), ReuseConfig(reuse)
        )

    every, fast = make(0, 0), make(3, 3)
    ref = [every.process(frame, "bgr") for _ in range(8)]
    got = [fast.process(frame, "bgr") for _ in range(8)]
    assert ref[0].hands

    def hands(rs):
        return [[(h.box, h.gesture.label if h.gesture else None) for h in r.hands] for r in rs]

    a = agreement(hands(ref), hands(got))
    assert a["recall"] == 1.0 and a["precision"] == 1.0 and a["label_agreement"] == 1.0
    assert fast.skipper.detected == 2 and fast.skipper.carried == 6  # frames 0 and 4
    assert fast.memory.reused > 0


@pytest.mark.slow
def test_the_fused_node_with_both_levers_on_the_sample_video(tmp_path) -> None:
    """`gesture-ros up` with `detector.interval:=2 classifier.reuse_frames:=3` (real models, the
    committed sample at 10 Hz): every frame still gets its gestures printed, the detector ran on
    fewer than half of them, and the node says what the levers saved."""
    import re
    import subprocess
    import sys

    from ros_harness import ROOT

    cmd = [sys.executable, "-m", "gesture_ros.cli", "up", "config/graph_fused.yaml", "camera_source:=samples/hands_demo.mp4",
           "camera_rate:=10.0", "echo:=true", "--ros-args", "-p", "detector.interval:=2", "-p", "classifier.reuse_frames:=3"]  # fmt: skip
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    printed = [line for line in out.stdout.splitlines() if re.match(r"\[\d+\.\d+ camera\]", line)]
    assert len(printed) >= 54, text[-3000:]  # keep-last-1 may replace a frame at start-up (counted)
    assert "Traceback" not in text and sum("(not classified)" in line for line in printed) == 0  # reused, not lost
    m = re.search(r"the detector ran on (\d+) of (\d+) frames, (\d+) gestures reused", text)
    assert m, text[-3000:]
    ran, frames, reused = map(int, m.groups())
    assert frames == len(printed) and ran <= frames // 2 and reused > 0

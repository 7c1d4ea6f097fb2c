"""Every message a node takes is checked at the boundary (issue 22): hostile DetectionArrays
into the roi node and hostile GestureArrays into the overlay node, on real node processes over
DDS. Each bad hand gets one log line and a count on /diagnostics; the node keeps publishing,
every hand stays in its output, and what it republishes is finite."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from gesture_ros_msgs.msg import Box, Detection, DetectionArray, Gesture, GestureArray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ros_harness import ROOT, WARMUP_NS, Harness, encode, header
from sensor_msgs.msg import Image
from test_node_params_faults import _node

NAN, INF = float("nan"), float("inf")
GOOD = [370.0, 295.0, 446.0, 402.0]
#: box, score: each one wrong in one way (the last is the good one)
HOSTILE = [([NAN, 295.0, 446.0, 402.0], 0.9), ([370.0, 295.0, 446.0, 402.0], INF), ([1e30, 0.0, 2e30, 10.0], 0.9),
           ([446.0, 402.0, 370.0, 295.0], 0.9), ([-INF, -INF, INF, INF], NAN), (GOOD, 0.9)]  # fmt: skip


def _detection(stamp: int, box: list[float], score: float, roi: list[float] | None = None) -> Detection:
    d = Detection(label="hand", score=score, box=Box(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3]))
    d.header = header(stamp, "test_cam")
    if roi is not None:
        d.roi, d.roi_valid = Box(x_min=roi[0], y_min=roi[1], x_max=roi[2], y_max=roi[3]), True
    return d


def _counted(diags: list[DiagnosticArray], node: str, key: str) -> int:
    values = (kv for d in diags for s in d.status if s.name.endswith(node) for kv in s.values)
    return max((int(kv.value) for kv in values if kv.key == key), default=0)


@pytest.mark.dds
def test_hostile_detections_into_the_roi_node(tmp_path: Path) -> None:
    log = tmp_path / "roi.log"
    args = ["-p", "detections_topic:=/hx/dets", "-p", "rois_topic:=/hx/rois", "-p", "diagnostics_period:=0.3"]
    proc = _node("roi_node", "roi_hostile", args, log)
    h = Harness("roi_hostile_harness")
    pub = h.publisher(DetectionArray, "/hx/dets")
    out = h.subscribe(DetectionArray, "/hx/rois")
    diags = h.subscribe(DiagnosticArray, "/diagnostics")

    def send(stamp: int, dets: list[Detection]) -> None:
        pub.publish(
            DetectionArray(header=header(stamp, "test_cam"), image_width=640, image_height=480, detections=dets)
        )

    try:
        h.handshake(lambda k: send(WARMUP_NS + k, [_detection(WARMUP_NS + k, GOOD, 0.9)]), out)
        stamp = 2 * WARMUP_NS
        send(stamp, [_detection(stamp, box, score) for box, score in HOSTILE])
        send(stamp + 1, [_detection(stamp + 1, GOOD, 0.9)])  # and the node goes on
        assert h.spin_until(lambda: len(out) >= 2, 20), log.read_text()[-3000:]
        first = out[0].detections
        assert len(first) == len(HOSTILE)  # every hand published
        assert [d.roi_valid for d in first] == [
            False,
            True,
            False,
            False,
            False,
            True,
        ]  # a bad score alone keeps the box usable
        for d in first:
            values = [d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max, d.roi.x_min, d.roi.y_max, d.score]
            assert all(math.isfinite(v) for v in values) and 0.0 <= d.score <= 1.0 and abs(d.box.x_max) <= 2 * 640
        assert out[1].detections[0].roi_valid
        assert h.spin_until(lambda: _counted(diags, "roi_hostile", "bad_detections") >= 5, 10)
        text = log.read_text()
        for why in ("is not finite", "outside [0, 1]", "lies far outside the 640x480 image", "corners swapped"):
            assert why in text, text[-3000:]
        assert proc.poll() is None and "Traceback" not in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


@pytest.mark.dds
def test_hostile_gestures_into_the_overlay_node(tmp_path: Path) -> None:
    """Before the boundary check a NaN box stopped the overlay node (``round(nan)`` in drawing)."""
    import cv2

    ok, frame = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4")).read()
    assert ok
    log = tmp_path / "overlay.log"
    args = ["-p", "image_topic:=/hy/image", "-p", "gestures_topic:=/hy/gestures", "-p", "overlay_topic:=/hy/overlay",
            "-p", "diagnostics_period:=0.3"]  # fmt: skip
    proc = _node("overlay_node", "overlay_hostile", args, log)
    h = Harness("overlay_hostile_harness")
    images = h.node.create_publisher(Image, "/hy/image", 10)
    gestures = h.publisher(GestureArray, "/hy/gestures")
    out = h.subscribe(Image, "/hy/overlay", best_effort=True)
    diags = h.subscribe(DiagnosticArray, "/diagnostics")

    def gesture(
        stamp: int, box: list[float], score: float, roi: list[float] | None = None, confidence: float = 0.8
    ) -> Gesture:
        g = Gesture(
            hand=_detection(stamp, box, score, roi),
            label="stop",
            class_id=1,
            confidence=confidence,
            track_id=3,
            available=True,
        )
        g.header = header(stamp, "test_cam")
        return g

    def send(stamp: int, gs: list[Gesture]) -> None:
        gestures.publish(GestureArray(header=header(stamp, "test_cam"), gestures=gs))
        images.publish(encode(frame, "bgr8", stamp))

    try:
        h.handshake(lambda k: send(WARMUP_NS + k, [gesture(WARMUP_NS + k, GOOD, 0.9)]), out)
        hostile = [gesture(0, box, score) for box, score in HOSTILE]
        hostile += [gesture(0, GOOD, 0.9, roi=[NAN, 0.0, 10.0, 10.0]), gesture(0, GOOD, 0.9, confidence=7.0)]
        for i, g in enumerate(hostile):  # one message each: every one must come out drawn
            send(2 * WARMUP_NS + i, [g])
            assert h.spin_until(lambda i=i: len(out) >= i + 1, 20), log.read_text()[-3000:]
        assert all(np.frombuffer(m.data, np.uint8).size == frame.size for m in out)
        assert h.spin_until(lambda: _counted(diags, "overlay_hostile", "bad_gestures") >= 6, 10)
        text = log.read_text()
        assert proc.poll() is None and "Traceback" not in text, text[-3000:]
        assert "gesture confidence 7.0 is outside [0, 1]" in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32)
QUADS = st.lists(st.tuples(FLOATS, FLOATS, FLOATS, FLOATS), min_size=0, max_size=5)


@given(boxes=QUADS, rois=QUADS, extra=st.lists(st.tuples(FLOATS, FLOATS, st.booleans()), min_size=5, max_size=5),
       size=st.tuples(st.integers(0, 900), st.integers(0, 900)), frame=st.tuples(st.integers(8, 700), st.integers(8, 700)))  # fmt: skip
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_message_through_the_nodes_conversion_and_the_checks(boxes, rois, extra, size, frame) -> None:
    """Random and hostile DetectionArrays and GestureArrays, as real messages, through the same
    conversion and checks the classifier, roi and overlay nodes run: nothing raises, every hand
    stays, what is republished or drawn is finite, and a hand used for a crop has a ROI inside
    the frame."""
    from gesture_ros.core.overlay import draw
    from gesture_ros.core.received import check_hand, check_hands, prepare_received_hands
    from gesture_ros.core.roi import RoiConfig, expand_rois, pixel_region
    from gesture_ros.nodes.convert import _box, hands_from_msg
    from gesture_ros.nodes.overlay_node import hands_from_gestures

    w, h = frame
    dets = []
    for i, b in enumerate(boxes):
        r = rois[i] if i < len(rois) else (0.0, 0.0, 0.0, 0.0)
        score, _, valid = extra[i]
        d = _detection(1, list(b), score, list(r) if valid else None)
        dets.append(d)
    msg = DetectionArray(header=header(1, "cam"), image_width=size[0], image_height=size[1], detections=dets)

    hands = hands_from_msg(msg)  # the classifier node
    prepare_received_hands(hands, w, h, (msg.image_width, msg.image_height), RoiConfig(min_size=4.0))
    assert len(hands) == len(dets)
    for x in hands:
        assert np.isfinite(x.box).all() and 0.0 <= x.score <= 1.0
        if x.roi_valid:
            x1, y1, x2, y2 = pixel_region(x.roi)
            assert 0 <= x1 < x2 <= w + 1 and 0 <= y1 < y2 <= h + 1

    hands = hands_from_msg(msg)  # the roi node
    usable = [i for i, x in enumerate(hands) if check_hand(x, w, h)[1]]
    if usable:
        rois_out, _ = expand_rois(np.stack([hands[i].box for i in usable]), w, h, RoiConfig())
        assert np.isfinite(rois_out).all()
    for x in hands:
        b = _box(x.box)
        assert all(np.isfinite([b.x_min, b.y_min, b.x_max, b.y_max]))

    gestures = []  # the overlay node
    for i, d in enumerate(dets):
        g = Gesture(hand=d, label="stop", class_id=1, confidence=extra[i][1], track_id=i, available=extra[i][2])
        gestures.append(g)
    drawn = hands_from_gestures(GestureArray(header=header(1, "cam"), gestures=gestures))
    check_hands(drawn, w, h)
    out = draw(np.zeros((h, w, 3), np.uint8), drawn)
    assert out.shape == (h, w, 3)

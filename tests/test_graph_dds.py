"""The graph as separate processes over DDS (started by `gesture-ros up`), real ONNX models.

Frames go in from this test process; GestureArray / DetectionArray come out with the input
image's header, and the gestures equal what the core pipeline computes in-process.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent
from ros_harness import WARMUP_NS, Graph, Harness, compressed, encode, stamp_ns
from sensor_msgs.msg import CompressedImage, Image

from gesture_ros.core.image import ENCODINGS

pytestmark = pytest.mark.dds

COLOURS = {"red": (100, 100, 255), "green": (100, 255, 100), "blue": (255, 100, 100)}


def scene(colour: str, x: int, y: int, size: int = 80) -> np.ndarray:
    img = np.zeros((240, 320, 3), np.uint8)
    img[y : y + size, x : x + size] = COLOURS[colour]
    return img


def _start(graph: str, synthetic: dict[str, Path], tmp: Path, topic: str, **extra: str) -> Graph:
    args = {
        "camera": "false",
        "image_topic": topic,
        "detector_model": str(synthetic["detector"]),
        "classifier_model": str(synthetic["classifier"]),
        **extra,
    }
    return Graph(graph, args, tmp / "graph.log")


def _run(graph_file: str, tmp_path: Path, synthetic, reference, n_subscribers: int, frames, overlay: bool = False):
    h = Harness()
    g = _start(graph_file, synthetic, tmp_path, "/dds_test/image_raw")
    try:
        pub = h.publisher(Image, "/dds_test/image_raw")
        gestures = h.subscribe(GestureArray, "gestures")
        dets = h.subscribe(DetectionArray, "hands/detections")
        rois = h.subscribe(DetectionArray, "hands/rois")
        overlays = h.subscribe(Image, "gestures/overlay", best_effort=True)
        assert h.spin_until(lambda: pub.get_subscription_count() >= n_subscribers and h.matched("gestures"), 30), (
            g.log()
        )
        warm = scene("red", 0, 0)
        # a round trip to every output the test reads (DDS matches readers and writers one by one)
        outputs = [gestures, dets, *([rois] if "separate" in graph_file else []), *([overlays] if overlay else [])]
        h.handshake(lambda k: pub.publish(encode(warm, "bgr8", WARMUP_NS + k)), *outputs)
        sent = []
        for i, (msg, img) in enumerate(frames):
            pub.publish(msg)
            sent.append((msg, img))
            # one frame at a time, as the reference pipeline saw them
            assert h.spin_until(lambda i=i: len(gestures) >= i + 1, 20), f"no GestureArray for frame {i}\n{g.log()}"
        return h, g, sent, gestures, dets, pub
    except BaseException:
        g.stop()
        h.close()
        raise


def _assert_matches_reference(sent, gestures, reference) -> None:
    by_stamp = {stamp_ns(m.header): m for m in gestures}
    for msg, img in sent:
        out = by_stamp[stamp_ns(msg.header)]
        assert out.header.frame_id == msg.header.frame_id
        assert out.header.stamp == msg.header.stamp
        ref = reference.process(img, "bgr")
        assert [g.label for g in out.gestures] == [hand.gesture.label for hand in ref.hands]
        for g, hand in zip(out.gestures, ref.hands, strict=True):
            assert g.header == msg.header and g.hand.header == msg.header
            np.testing.assert_allclose(
                [g.hand.box.x_min, g.hand.box.y_min, g.hand.box.x_max, g.hand.box.y_max], hand.box, atol=1e-3
            )
            np.testing.assert_allclose(g.scores, hand.gesture.scores, atol=1e-5)
            assert g.available and g.hand.roi_valid and len(g.scores) == 6


def test_fused_graph_over_dds(tmp_path: Path, synthetic, reference) -> None:
    frames = []
    t0 = 1_700_000_000_000_000_000
    for i, colour in enumerate(["red", "green", "blue", "red"]):
        img = scene(colour, 40 + 50 * i, 60)
        frames.append((encode(img, "bgr8", t0 + i * 33_000_000, pad=8 if i == 1 else 0), img))
    h, g, sent, gestures, dets, pub = _run("config/graph_fused.yaml", tmp_path, synthetic, reference, 1, frames)
    try:
        _assert_matches_reference(sent, gestures, reference)
        labels = [m.gestures[0].label for m in gestures]
        assert labels == ["thumbs_up", "fist", "stop", "thumbs_up"]  # red, green, blue -> classes 0, 1, 2
        assert h.spin_until(lambda: len(dets) >= len(sent), 10)
        assert all(d.image_width == 320 and d.image_height == 240 for d in dets)
        # a burst as long as image_queue_size (3 by default), sent at once: the frames that arrive
        # while the node works on the first wait their turn instead of replacing each other
        burst = [encode(scene("blue", 60 + 10 * i, 60), "bgr8", t0 + (10 + i) * 33_000_000) for i in range(3)]
        for msg in burst:
            pub.publish(msg)
        assert h.spin_until(lambda: len(gestures) >= len(sent) + 3, 20), g.log()
        assert [stamp_ns(m.header) for m in gestures[-3:]] == [stamp_ns(m.header) for m in burst]
        # the annotated image is drawn only while someone takes it: a subscriber that comes later
        # gets the frames from then on, each with its frame's header
        overlays = h.subscribe(Image, "gestures/overlay", best_effort=True)
        h.handshake(lambda k: pub.publish(encode(scene("red", 0, 0), "bgr8", WARMUP_NS + k)), overlays)
        late = encode(scene("green", 100, 100), "bgr8", t0 + 20 * 33_000_000)
        pub.publish(late)
        assert h.spin_until(lambda: any(o.header == late.header for o in overlays), 20), g.log()
    finally:
        g.stop()
        h.close()


def test_separate_graph_over_dds(tmp_path: Path, synthetic, reference) -> None:
    frames = []
    t0 = 1_700_000_100_000_000_000
    for i, colour in enumerate(["blue", "green", "red"]):
        img = scene(colour, 30 + 60 * i, 80)
        frames.append((encode(img, "rgb8", t0 + i * 50_000_000), img))
    h, g, sent, gestures, dets, _ = _run(
        "config/graph_separate.yaml", tmp_path, synthetic, reference, 3, frames, overlay=True
    )
    try:
        rois = h.received["hands/rois"]
        _assert_matches_reference(sent, gestures, reference)
        # the roi stage really ran: its messages carry the ROIs the classifier used
        assert h.spin_until(lambda: len(rois) >= len(sent), 10), g.log()
        assert all(m.detections and all(d.roi_valid for d in m.detections) for m in rois)
        assert [m.gestures[0].hand.roi for m in gestures] == [m.detections[0].roi for m in rois]
        assert not any(d.roi_valid for m in dets for d in m.detections)  # the detector publishes boxes only
        # the overlay node drew every frame, with the frame's header, as bgr8 of the same size
        overlays = h.received["gestures/overlay"]
        assert h.spin_until(lambda: len(overlays) >= len(sent), 10), (len(overlays), g.log())
        assert [o.header for o in overlays] == [m.header for m, _ in sent]
        assert all((o.encoding, o.width, o.height) == ("bgr8", 320, 240) for o in overlays)
        drawn = np.frombuffer(overlays[-1].data, np.uint8).reshape(240, 320, 3)
        assert not np.array_equal(drawn, sent[-1][1])  # boxes and labels were drawn
    finally:
        g.stop()
        h.close()


def test_every_encoding_accepted_and_bad_ones_logged_once(tmp_path: Path, synthetic, reference) -> None:
    h = Harness()
    g = _start("config/graph_fused.yaml", synthetic, tmp_path, "/enc_test/image_raw")
    try:
        pub = h.publisher(Image, "/enc_test/image_raw")
        gestures = h.subscribe(GestureArray, "gestures")
        assert h.spin_until(lambda: pub.get_subscription_count() >= 1 and h.matched("gestures"), 30), g.log()
        h.handshake(lambda k: pub.publish(encode(scene("red", 0, 0), "bgr8", WARMUP_NS + k)), gestures)
        t0 = 1_700_000_200_000_000_000
        img = scene("red", 120, 80)
        for i, enc in enumerate(ENCODINGS):
            msg = encode(img, enc, t0 + i * 1_000_000, pad=4)
            pub.publish(msg)
            assert h.spin_until(lambda i=i: len(gestures) >= i + 1, 20), f"{enc} not processed\n{g.log()}"
            assert stamp_ns(gestures[-1].header) == stamp_ns(msg.header)
            assert len(gestures[-1].gestures) == 1, enc
        n_ok = len(gestures)
        bad = encode(img, "bgr8", t0 + 100)
        bad.encoding = "16UC1"
        for _ in range(3):  # spaced out: one rejection at a time
            bad.header.stamp.nanosec += 1
            pub.publish(bad)
            h.spin_until(lambda: False, 0.3)
        short = encode(img, "bgr8", t0 + 200)
        short.step = 10  # smaller than width x 3
        pub.publish(short)
        h.spin_until(lambda: False, 0.5)
        good = encode(img, "bgr8", t0 + 300)
        pub.publish(good)
        assert h.spin_until(lambda: len(gestures) >= n_ok + 1, 20), g.log()
        assert stamp_ns(gestures[-1].header) == stamp_ns(good.header)  # still alive, bad frames produced nothing
        assert h.spin_until(lambda: "step 10 is smaller" in g.log(), 5)
        log = g.log()
        assert log.count("unsupported image encoding '16UC1'") == 1, log  # one line, repeats counted
        assert "Traceback" not in log
    finally:
        g.stop()
        h.close()


def test_compressed_input_and_gesture_events(tmp_path: Path, synthetic) -> None:
    h = Harness()
    g = _start("config/graph_fused.yaml", synthetic, tmp_path, "/cmp_test/image_raw", image_transport="compressed")
    try:
        pub = h.publisher(CompressedImage, "/cmp_test/image_raw/compressed")
        gestures = h.subscribe(GestureArray, "gestures")
        events = h.subscribe(GestureEvent, "gestures/events")
        assert h.spin_until(lambda: pub.get_subscription_count() >= 1 and h.matched("gestures"), 30), g.log()
        h.handshake(lambda k: pub.publish(compressed(scene("green", 200, 150), WARMUP_NS + k)), gestures)
        t0 = 1_700_000_300_000_000_000
        colours = ["red"] * 4 + ["blue"] * 4
        for i, colour in enumerate(colours):
            pub.publish(compressed(scene(colour, 100 + i, 80), t0 + i * 10_000_000))
            assert h.spin_until(lambda i=i: len(gestures) >= i + 1, 20), g.log()
        assert h.spin_until(lambda: len(events) >= 2, 5), g.log()
        # default debounce: 3 agreeing frames; one track throughout (the hand barely moves)
        assert [(e.previous_label, e.gesture.label) for e in events] == [("", "thumbs_up"), ("thumbs_up", "stop")]
        assert len({e.track_id for e in events}) == 1
        assert stamp_ns(events[0].header) == t0 + 2 * 10_000_000  # confirmed on the 3rd frame
    finally:
        g.stop()
        h.close()

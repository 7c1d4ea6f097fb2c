"""vision_msgs output (issue 24, part 2): hands as ``vision_msgs/Detection2DArray``.

vision_msgs is not on PyPI: the test set-up builds ``tests/interfaces/vision_msgs`` (the 2D
detection messages of vision_msgs 4.1.1, field for field) into the venv. The first test proves
that these definitions are the published package's types on the wire: rosidl gives them the
same RIHS01 type hashes as the released vision_msgs 4.x.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from gesture_ros_msgs.msg import GestureArray
from ros_harness import WARMUP_NS, Harness, encode, stamp_ns
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from test_graph_dds import _start, scene

from gesture_ros.core.classify import GestureResult
from gesture_ros.core.pipeline import Hand

VENV = Path(__file__).resolve().parent.parent / ".venv"
HAVE_VISION = importlib.util.find_spec("vision_msgs") is not None
needs_vision = pytest.mark.skipif(
    not HAVE_VISION, reason="vision_msgs is not built (make setup-ros-tools builds tests/interfaces/vision_msgs)"
)

#: RIHS01 hashes of the released vision_msgs 4.x, as rosidl_generator_c wrote them into a colcon
#: build of that package (build/vision_msgs/rosidl_generator_c/vision_msgs/msg/detail/
#: detection2_d_array__description.c, e.g. in github.com/borednuna/ipm-ws); the std_msgs and
#: geometry_msgs hashes of that file equal this venv's Kilted ones (checked below)
PUBLISHED = {
    "vision_msgs/msg/Detection2DArray": "214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968",
    "vision_msgs/msg/Detection2D": "0d12b69df5c593b3455b7346fac8205437a7d4bcb09b9e0e0b2dde787ded38ea",
    "vision_msgs/msg/BoundingBox2D": "008eacbb0cf8f26e83795547bed013eec3675485ef386ec056d80eaaf1c1ce2f",
    "vision_msgs/msg/ObjectHypothesis": "51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90",
    "vision_msgs/msg/ObjectHypothesisWithPose": "41c12344c0396c48b81df12467c192d99b2a0eb1463c5c37194e4223251c80bc",
    "vision_msgs/msg/Point2D": "eab0e83f44ab4de92ceaf76dd7d0e7638f2bdd1d16ffbe16c7a136c48e407247",
    "vision_msgs/msg/Pose2D": "b0b5d1d7b4c20dd4fcde3ed1d4b289a919290572007d67a97043814db25d3648",
    "std_msgs/msg/Header": "f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    "geometry_msgs/msg/PoseWithCovariance": "9a7c0fd234b7f45c6098745ecccd773ca1085670e64107135397aee31c02e1bb",
}


@needs_vision
def test_the_test_build_has_the_published_type_hashes() -> None:
    """What rosidl generated for tests/interfaces/vision_msgs (the .json type descriptions it
    installs) names every type with the released package's hash."""
    described = json.loads((VENV / "share" / "vision_msgs" / "msg" / "Detection2DArray.json").read_text())
    got = {h["type_name"]: h["hash_string"] for h in described["type_hashes"]}
    for name, digest in PUBLISHED.items():
        assert got[name] == f"RIHS01_{digest}", name


def _hand(box: list[float], score: float, track: int, gesture: tuple[str, float] | None) -> Hand:
    h = Hand(np.array(box, np.float32), score, 0, "hand", np.zeros(4, np.float32), False)
    h.track_id = track
    if gesture is not None:
        h.gesture = GestureResult(2, gesture[0], gesture[1], np.array([gesture[1]], np.float32))
    return h


@needs_vision
def test_detection2d_array_from_hands() -> None:
    """Box centre and size in pixels, the gesture first among the results, then the detector's
    class; the track id as ``id``; the image's header everywhere."""
    import vision_msgs.msg as vm

    from gesture_ros.nodes.vision import detection2d_array

    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    hands = [_hand([10, 20, 110, 220], 0.9, 3, ("stop", 0.8)), _hand([300, 40, 340, 90], 0.6, -1, None)]
    out = detection2d_array(vm, header, hands)
    assert out.header == header and [d.header for d in out.detections] == [header, header]
    a, b = out.detections
    assert (a.bbox.center.position.x, a.bbox.center.position.y, a.bbox.size_x, a.bbox.size_y) == (60, 120, 100, 200)
    assert a.bbox.center.theta == 0.0
    assert [(r.hypothesis.class_id, round(r.hypothesis.score, 6)) for r in a.results] == [("stop", 0.8), ("hand", 0.9)]
    assert a.id == "3"
    assert [(r.hypothesis.class_id, round(r.hypothesis.score, 6)) for r in b.results] == [("hand", 0.6)]
    assert b.id == ""  # untracked
    assert (b.bbox.center.position.x, b.bbox.size_x, b.bbox.size_y) == (320, 40, 50)


def test_asked_for_without_vision_msgs_is_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """A robot without vision_msgs: the node says so once and publishes everything else."""
    from gesture_ros.nodes.vision import VisionOutput

    monkeypatch.setitem(sys.modules, "vision_msgs", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "vision_msgs.msg", None)
    said: list[str] = []

    class Node:
        values = {"vision_msgs_topic": "hands/vision"}

        def get_logger(self):
            return type("L", (), {"warning": lambda _s, m: said.append(m), "info": lambda _s, m: said.append(m)})()

    out = VisionOutput(Node(), None)
    assert out.publisher is None and out.pairs(Header(), []) == []
    assert len(said) == 1 and "vision_msgs is not installed" in said[0]
    assert VisionOutput(type("Off", (Node,), {"values": {"vision_msgs_topic": ""}})(), None).publisher is None


@needs_vision
@pytest.mark.dds
@pytest.mark.parametrize("graph", ["config/graph_fused.yaml", "config/graph_separate.yaml"])
def test_both_graphs_publish_vision_msgs_beside_gestures(tmp_path: Path, synthetic, graph: str) -> None:
    """``vision_msgs_topic:=hands/vision`` on a graph over DDS: each frame's Detection2DArray says
    what its GestureArray says (boxes, labels, scores, track ids, the image's header), and the
    publisher announces the published package's type hash on the wire."""
    from vision_msgs.msg import Detection2DArray

    h = Harness()
    g = _start(graph, synthetic, tmp_path, "/vision_test/image_raw", vision_msgs_topic="hands/vision")
    try:
        pub = h.publisher(Image, "/vision_test/image_raw")
        gestures = h.subscribe(GestureArray, "gestures")
        vision = h.subscribe(Detection2DArray, "hands/vision")
        assert h.spin_until(lambda: h.matched("gestures") and h.matched("hands/vision"), 30), g.log()
        h.handshake(lambda k: pub.publish(encode(scene("red", 0, 0), "bgr8", WARMUP_NS + k)), gestures, vision)
        t0 = 1_700_000_000_000_000_000
        for i, colour in enumerate(["red", "green", "blue"]):
            pub.publish(encode(scene(colour, 40 + 50 * i, 60), "bgr8", t0 + i * 33_000_000))
            assert h.spin_until(lambda i=i: len(gestures) > i and len(vision) > i, 20), g.log()
        by_stamp = {stamp_ns(m.header): m for m in vision}
        for ga in gestures:
            va = by_stamp[stamp_ns(ga.header)]
            assert va.header == ga.header and len(va.detections) == len(ga.gestures) >= 1
            for d, gst in zip(va.detections, ga.gestures, strict=True):
                b = gst.hand.box
                assert d.header == ga.header
                np.testing.assert_allclose(
                    [d.bbox.center.position.x, d.bbox.center.position.y, d.bbox.size_x, d.bbox.size_y],
                    [(b.x_min + b.x_max) / 2, (b.y_min + b.y_max) / 2, b.x_max - b.x_min, b.y_max - b.y_min],
                    atol=1e-3,
                )
                assert d.results[0].hypothesis.class_id == gst.label
                assert abs(d.results[0].hypothesis.score - gst.confidence) < 1e-6
                assert d.id == str(gst.track_id)
        (info,) = h.node.get_publishers_info_by_topic("/hands/vision")
        assert info.topic_type == "vision_msgs/msg/Detection2DArray"
        assert info.topic_type_hash.version == 1
        assert bytes(info.topic_type_hash.value).hex() == PUBLISHED["vision_msgs/msg/Detection2DArray"]
    finally:
        g.stop()
        h.close()

"""Hand positions in 3D from an aligned depth image (issue 25, part 1).

On arrays: planes at set distances give the exact pinhole answer; a hand nearer than its
background, with background between the fingers, holes and flying pixels, gives the hand's
depth. Over DDS: the fused graph on a real frame of the sample video with a synthetic depth
image; zeros, NaN, a depth image of another size and a missing CameraInfo each give one clear
log line and invalid positions while the node keeps running.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gesture_ros.core.depth import DepthConfig, Intrinsics, check_aligned, depth_metres, hand_depth, hand_position
from gesture_ros.core.errors import ImageFormatError

ROOT = Path(__file__).resolve().parent.parent
K = Intrinsics(fx=610.0, fy=605.0, cx=318.5, cy=243.0, width=640, height=480)
CFG = DepthConfig()


def as_16uc1(depth_m: np.ndarray) -> tuple[bytes, int]:
    mm = np.where(np.isfinite(depth_m), np.round(depth_m * 1000), 0).astype("<u2")
    return mm.tobytes(), mm.shape[1] * 2


@pytest.mark.parametrize("z", [0.5, 1.234, 3.9])
@pytest.mark.parametrize("box", [(300, 220, 340, 260), (20, 30, 120, 150), (500, 380, 630, 470)])
def test_a_plane_gives_the_exact_pinhole_answer(z: float, box: tuple[int, int, int, int]) -> None:
    """A plane at z metres, as 16UC1 millimetres and as 32FC1 metres: the box centre deprojects
    to ((u - cx) z / fx, (v - cy) z / fy, z)."""
    plane = np.full((480, 640), z, np.float32)
    u, v = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    want = ((u - K.cx) * z / K.fx, (v - K.cy) * z / K.fy, z)
    data, step = as_16uc1(plane)
    for depth in (depth_metres(data, "16UC1", 640, 480, step), depth_metres(plane.tobytes(), "32FC1", 640, 480, 2560)):
        got, why = hand_position(depth, box, K, CFG)
        assert why == "" and got is not None
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_the_hand_wins_over_the_background_between_its_fingers() -> None:
    """Background at 2.5 m; the hand at 0.8 m is five fingers (vertical stripes) covering 35 % of
    the box's core, with 20 % of pixels without depth and 3 % flying pixels at 0.3 m. The box's
    median would say 2.5 m; the near layer says 0.8 m."""
    rng = np.random.default_rng(1)
    depth = np.full((480, 640), 2.5, np.float32)
    box = (200, 100, 300, 260)
    x = np.arange(200, 300)
    fingers = (((x - 200) // 6) % 3 == 0) | (x > 280)  # stripes plus the palm's edge
    depth[100:260, 200:300][:, fingers] = 0.8 + rng.normal(0, 0.01, size=(160, int(fingers.sum())))
    patch = depth[100:260, 200:300]
    patch[rng.random(patch.shape) < 0.20] = np.nan
    patch[rng.random(patch.shape) < 0.03] = 0.3
    core = depth[132:228, 220:280]
    assert np.nanmedian(core) == pytest.approx(2.5)  # what a plain median reads
    z, why = hand_depth(depth, box, CFG)
    assert why == "" and z == pytest.approx(0.8, abs=0.02)
    # robust to where the layer is looked for: a deeper percentile still finds the hand
    z2, _ = hand_depth(depth, box, DepthConfig(near_percentile=30.0))
    assert z2 == pytest.approx(0.8, abs=0.02)


@pytest.mark.parametrize("fill", [0.0, np.nan, np.inf, 25.0])
def test_no_usable_depth_is_invalid_with_the_reason(fill: float) -> None:
    """Zeros (16UC1 'no depth'), NaN, inf, or depths beyond max_depth: no position, and why."""
    depth = np.full((480, 640), fill, np.float32)
    if fill == 0.0:
        data, step = as_16uc1(depth)
        depth = depth_metres(data, "16UC1", 640, 480, step)
    pos, why = hand_position(depth, (100, 100, 200, 200), K, CFG)
    assert pos is None and "no usable depth in the hand's box" in why


def test_bad_images_and_intrinsics_are_named() -> None:
    assert check_aligned((640, 480), (640, 480), K) == ""
    assert "no CameraInfo" in check_aligned((640, 480), (640, 480), None)
    assert "depth image is 320x240, the colour image 640x480" in check_aligned((320, 240), (640, 480), K)
    assert "CameraInfo is for 640x480" in check_aligned((1280, 720), (1280, 720), K)
    with pytest.raises(ImageFormatError, match="no usable K"):
        Intrinsics.from_k([0, 0, 0, 0, 0, 0, 0, 0, 1], 640, 480)
    with pytest.raises(ImageFormatError, match="depth encoding 'bgr8'"):
        depth_metres(b"\0" * 12, "bgr8", 2, 2, 6)
    with pytest.raises(ImageFormatError, match="does not fit"):
        depth_metres(b"\0" * 6, "16UC1", 2, 2, 4)
    # row padding in step is skipped
    padded = np.array([[1000, 2000, 0, 0], [3000, 4000, 0, 0]], "<u2")
    np.testing.assert_allclose(depth_metres(padded.tobytes(), "16UC1", 2, 2, 8), [[1.0, 2.0], [3.0, 4.0]])
    assert Intrinsics.from_k([610, 0, 318.5, 0, 605, 243, 0, 0, 1], 640, 480) == K


def _real_frame() -> np.ndarray:
    """A frame of the committed sample video with hands in it (640x480)."""
    cap = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4"))
    for _ in range(12):
        ok, img = cap.read()
    assert ok
    return cv2.resize(img, (640, 480))


@pytest.mark.dds
def test_positions_over_dds_on_a_real_frame(tmp_path: Path, models) -> None:
    """The fused graph with ``depth.enabled``: a real colour frame, its CameraInfo and a depth
    image (background 2 m, each hand's box at 0.9 m) with the same stamp give each hand the
    pinhole position of its box centre at 0.9 m. Before any CameraInfo, with a depth image of
    zeros, of NaN, or of another size, positions are invalid with one log line each, and the node
    goes on to a valid position again."""
    from gesture_ros_msgs.msg import GestureArray
    from ros_harness import WARMUP_NS, Graph, Harness, encode, header
    from sensor_msgs.msg import CameraInfo, Image

    from gesture_ros import factory

    img = _real_frame()
    ref = factory.pipeline(factory.parameter_values(None), models).process(img, "bgr")
    assert ref.hands, "the sample frame should show hands"
    scene = np.full((480, 640), 2.0, np.float32)
    for hand in ref.hands:
        x1, y1, x2, y2 = (round(float(v)) for v in hand.box)
        scene[y1:y2, x1:x2] = 0.9

    h = Harness()
    g = Graph(
        "config/graph_fused.yaml",
        {"camera": "false", "image_topic": "/depth_test/color/image_raw"},
        tmp_path / "graph.log",
        ros_args=["-p", "depth.enabled:=true", "-p", "depth_topic:=/depth_test/aligned_depth_to_color/image_raw",
                  "-p", "camera_info_topic:=/depth_test/color/camera_info"],
    )  # fmt: skip
    try:
        colour = h.publisher(Image, "/depth_test/color/image_raw")
        depth = h.publisher(Image, "/depth_test/aligned_depth_to_color/image_raw")
        info = h.publisher(CameraInfo, "/depth_test/color/camera_info")
        gestures = h.subscribe(GestureArray, "gestures")
        assert h.spin_until(lambda: colour.get_subscription_count() >= 1 and depth.get_subscription_count() >= 1, 30)
        h.handshake(lambda k: colour.publish(encode(img, "bgr8", WARMUP_NS + k)), gestures)

        def frame(i: int, depth_msg: Image | None, with_info: bool) -> list:
            stamp = 1_900_000_000_000_000_000 + i * 100_000_000
            if with_info:
                info.publish(CameraInfo(header=header(stamp, "depth_cam"), width=640, height=480,
                                        k=[K.fx, 0.0, K.cx, 0.0, K.fy, K.cy, 0.0, 0.0, 1.0]))  # fmt: skip
            if depth_msg is not None:
                depth_msg.header = header(stamp, "depth_cam")
                depth.publish(depth_msg)
            h.spin_until(lambda: False, 0.3)  # depth and info on their way first
            colour.publish(encode(img, "bgr8", stamp, frame_id="depth_cam"))
            assert h.spin_until(lambda: any(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp
                                            for m in gestures), 20), g.log()  # fmt: skip
            return next(m for m in gestures if m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == stamp).gestures

        def depth_image(values: np.ndarray, encoding: str = "16UC1") -> Image:
            m = Image(height=values.shape[0], width=values.shape[1], encoding=encoding)
            if encoding == "16UC1":
                data, m.step = as_16uc1(values)
            else:
                data, m.step = values.astype("<f4").tobytes(), values.shape[1] * 4
            m.data = data
            return m

        bad = [
            (depth_image(scene), False, "no CameraInfo received"),
            (depth_image(np.zeros((480, 640), np.float32)), True, "no usable depth in the hand's box"),
            (depth_image(np.full((480, 640), np.nan, np.float32), "32FC1"), True, "no usable depth in the hand's box"),
            (depth_image(np.full((240, 320), 1.0, np.float32)), True, "the depth image is 320x240"),
        ]
        for i, (msg, with_info, why) in enumerate(bad):
            out = frame(i, msg, with_info)
            assert out and not any(x.hand.position_valid for x in out), why
        for i in range(len(bad), len(bad) + 2):  # good again, twice
            out = frame(i, depth_image(scene), True)
            assert len(out) == len(ref.hands)
            for x, hand in zip(out, ref.hands, strict=True):
                u, v = (hand.box[0] + hand.box[2]) / 2, (hand.box[1] + hand.box[3]) / 2
                assert x.hand.position_valid and x.header.frame_id == "depth_cam"
                np.testing.assert_allclose(
                    [x.hand.position.x, x.hand.position.y, x.hand.position.z], K.deproject(u, v, 0.9), atol=2e-3
                )
        assert g.proc.poll() is None
        log = g.log()
        for _, _, why in bad:
            assert log.count(why) == 1, (why, log[-3000:])
    finally:
        g.stop()
        h.close()


@pytest.mark.dds
def test_the_readme_depth_bag_example(tmp_path: Path) -> None:
    """``make-bag --depth 1.2`` (the sample video plus a synthetic aligned depth plane and a
    CameraInfo per frame) replayed into the fused graph with ``depth:=true``: the hands come out
    1.2 m away, at the pinhole position of their box centres."""
    import subprocess
    import sys

    from gesture_ros_msgs.msg import GestureArray
    from ros_harness import Graph, Harness

    from gesture_ros.bags import make_bag

    bag = tmp_path / "depth_bag"
    assert make_bag(str(ROOT / "samples" / "hands_demo.mp4"), bag, topic="/camera/color/image_raw", depth=1.2) > 10
    h = Harness()
    g = Graph("config/graph_fused.yaml", {"camera": "false", "image_topic": "/camera/color/image_raw", "depth": "true"},
              tmp_path / "graph.log")  # fmt: skip
    try:
        gestures = h.subscribe(GestureArray, "/gestures")
        assert h.spin_until(lambda: h.matched("/gestures"), 30), g.log()
        play = subprocess.Popen(
            [sys.executable, "-m", "gesture_ros.cli", "replay", str(bag), "--wait-for-subscribers", "1", "--rate", "0.5"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        while play.poll() is None:
            h.spin_until(lambda: False, 0.2)
        assert play.returncode == 0, play.stdout.read() if play.stdout else ""
        h.spin_until(lambda: False, 2.0)
        located = [x for m in gestures for x in m.gestures if x.hand.position_valid]
        assert len(located) >= 10, g.log()[-3000:]
        f = 640 / (2 * np.tan(np.radians(30.0)))
        k = Intrinsics(f, f, 319.5, 239.5, 640, 480)
        for x in located:
            b = x.hand.box
            want = k.deproject((b.x_min + b.x_max) / 2, (b.y_min + b.y_max) / 2, 1.2)
            np.testing.assert_allclose([x.hand.position.x, x.hand.position.y, x.hand.position.z], want, atol=1e-4)
        assert all(x.hand.position_valid for m in gestures for x in m.gestures), "a frame without its depth"
    finally:
        g.stop()
        h.close()


def test_a_bag_with_depth_replays_depth_and_evaluates_colour(tmp_path: Path) -> None:
    """``make-bag --depth``: replay reads colour, depth and CameraInfo with the same stamps; an
    evaluation reads the colour frames only (the depth topic is not taken for images)."""
    from gesture_ros.bags import REPLAY_TYPES, make_bag, read_images
    from gesture_ros.evaluation import evaluate_bag

    bag = tmp_path / "depth_bag"
    n = make_bag(str(ROOT / "samples" / "hands_demo.mp4"), bag, topic="/camera/color/image_raw", depth=1.5)
    replayed = list(read_images(bag, None, REPLAY_TYPES, depth=True))
    topics = {m.topic for m in replayed}
    assert topics == {
        "/camera/color/image_raw",
        "/camera/aligned_depth_to_color/image_raw",
        "/camera/color/camera_info",
    }
    stamps = {t: sorted(m.timestamp_ns for m in replayed if m.topic == t) for t in topics}
    assert len({tuple(v) for v in stamps.values()}) == 1 and len(stamps["/camera/color/image_raw"]) == n
    assert {m.topic for m in read_images(bag)} == {"/camera/color/image_raw"}
    assert len(evaluate_bag(bag)["per_frame"]) == n

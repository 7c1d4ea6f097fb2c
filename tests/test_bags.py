"""make-bag and replay on real rosbag2 bags (written and read by the rosbags library)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from ros_harness import ROOT, Harness, stamp_ns
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image

from gesture_ros.bags import DEFAULT_START_NS, FRAMES_CSV, BagError, make_bag, read_images


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"img_{i}.png"), rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_make_bag_roundtrip(tmp_path: Path, frames: Path, storage: str) -> None:
    out = tmp_path / f"bag_{storage}"
    assert make_bag(str(frames), out, topic="/cam/image_raw", frame_id="cam_optical", rate=5.0, storage=storage) == 3
    msgs = list(read_images(out))
    assert [m.timestamp_ns for m in msgs] == [DEFAULT_START_NS + k * 200_000_000 for k in range(3)]
    for k, m in enumerate(msgs):
        img = deserialize_message(m.cdr, Image)
        assert stamp_ns(img.header) == m.timestamp_ns and img.header.frame_id == "cam_optical"
        arr = np.frombuffer(bytes(img.data), np.uint8).reshape(img.height, img.width, 3)
        np.testing.assert_array_equal(arr, cv2.imread(str(frames / f"img_{k}.png")))
    rows = (out / FRAMES_CSV).read_text().splitlines()
    assert rows[1].endswith(",img_0.png") and len(rows) == 4


def test_compressed_bag(tmp_path: Path, frames: Path) -> None:
    out = tmp_path / "cbag"
    make_bag(str(frames), out, compressed=True)
    msgs = list(read_images(out))
    assert {m.msgtype for m in msgs} == {"sensor_msgs/msg/CompressedImage"}
    c = deserialize_message(msgs[0].cdr, CompressedImage)
    img = cv2.imdecode(np.frombuffer(bytes(c.data), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (24, 32, 3)


def test_bag_from_another_distro_is_read_with_its_own_definitions(tmp_path: Path) -> None:
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Img, Hdr, Tm = (
        ts.types["sensor_msgs/msg/Image"],
        ts.types["std_msgs/msg/Header"],
        ts.types["builtin_interfaces/msg/Time"],
    )
    out = tmp_path / "humble_bag"
    with Writer(out, version=8, storage_plugin=Writer.__init__.__kwdefaults__["storage_plugin"]) as w:
        conn = w.add_connection("/humble/image", "sensor_msgs/msg/Image", typestore=ts)
        msg = Img(header=Hdr(stamp=Tm(sec=12, nanosec=34), frame_id="h"), height=2, width=2, encoding="rgb8", is_bigendian=0, step=6,
                  data=np.arange(12, dtype=np.uint8))  # fmt: skip
        w.write(conn, 12_000_000_034, ts.serialize_cdr(msg, "sensor_msgs/msg/Image"))
    (m,) = list(read_images(out))
    img = deserialize_message(m.cdr, Image)
    assert img.encoding == "rgb8" and list(img.data) == list(range(12)) and img.header.stamp.nanosec == 34


def test_damaged_bags_are_one_clear_error(tmp_path: Path, frames: Path) -> None:
    with pytest.raises(BagError, match="bag not found"):
        list(read_images(tmp_path / "nope"))
    out = tmp_path / "bag"
    make_bag(str(frames), out)
    truncated = tmp_path / "truncated"
    shutil.copytree(out, truncated)
    db = next(truncated.glob("*.db3"))
    db.write_bytes(db.read_bytes()[:3000])
    with pytest.raises(BagError, match=r"corrupt or truncated|cannot read bag"):
        list(read_images(truncated))
    broken = tmp_path / "broken_meta"
    shutil.copytree(out, broken)
    (broken / "metadata.yaml").write_text("rosbag2_bagfile_information: [not, a, mapping\n")
    with pytest.raises(BagError):
        list(read_images(broken))
    with pytest.raises(BagError, match="no image topic among /other"):
        list(read_images(out, ["/other"]))
    cli = subprocess.run(
        [sys.executable, "-m", "gesture_ros.cli", "replay", str(truncated)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 2 and "Traceback" not in cli.stderr and cli.stderr.count("\n") == 1, cli.stderr


@pytest.mark.dds
def test_replay_publishes_images_with_recorded_timing_and_clock(tmp_path: Path, frames: Path) -> None:
    out = tmp_path / "bag"
    make_bag(str(frames), out, rate=4.0)  # 0.25 s apart
    h = Harness()
    images = h.subscribe(Image, "/replayed/image")
    clocks = h.subscribe(Clock, "/clock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gesture_ros.cli", "replay", str(out), "--remap", "/camera/image_raw:=/replayed/image",
         "--wait-for-subscribers", "1", "--rate", "2.0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert h.spin_until(lambda: proc.poll() is not None, 60)
        h.spin_until(lambda: len(images) >= 3, 5)
        assert proc.returncode == 0, proc.stdout.read() if proc.stdout else ""
        assert [stamp_ns(m.header) for m in images] == [DEFAULT_START_NS + k * 250_000_000 for k in range(3)]
        assert [c.clock for c in clocks] == [m.header.stamp for m in images]
    finally:
        proc.kill()
        h.close()


@pytest.mark.dds
def test_replay_start_offset_and_rate(tmp_path: Path, frames: Path) -> None:
    import time

    from gesture_ros.bags import replay

    out = tmp_path / "bag"
    make_bag(str(frames), out, rate=2.0)  # frames at 0, 0.5, 1.0 s
    seen: list[tuple[int, float]] = []
    t0 = time.monotonic()
    n = replay(
        out,
        rate=2.0,
        start_offset=0.5,
        clock=False,
        on_published=lambda m: seen.append((m.timestamp_ns, time.monotonic() - t0)),
    )
    assert n == 2 and [s for s, _ in seen] == [DEFAULT_START_NS + 500_000_000, DEFAULT_START_NS + 1_000_000_000]
    fast_gap = seen[1][1] - seen[0][1]
    seen.clear()
    replay(
        out,
        rate=0.5,
        start_offset=0.5,
        clock=False,
        on_published=lambda m: seen.append((m.timestamp_ns, time.monotonic())),
    )
    slow_gap = seen[1][1] - seen[0][1]
    # 0.5 s of bag time: 0.25 s at rate 2, 1.0 s at rate 0.5 (lower bounds only: sleeps never end early)
    assert fast_gap >= 0.2 and slow_gap >= 0.9

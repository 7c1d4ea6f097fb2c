"""Replay -> live graph (use_sim_time) -> record equals the offline evaluation, frame by frame."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ros_harness import ROOT, Graph

from gesture_ros.bags import read_messages
from gesture_ros.evaluation import compare_recording, evaluate_bag

pytestmark = pytest.mark.dds
SAMPLE = ROOT / "tests" / "data" / "sample_gestures_bag"


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gesture_ros.cli", *args], cwd=ROOT, text=True, **kw)


def test_live_replay_and_record_equal_offline(tmp_path: Path) -> None:
    offline = evaluate_bag(SAMPLE)
    graph = Graph(
        "config/graph_fused.yaml",
        {"camera": "false", "image_topic": "/camera/image_raw", "image_transport": "compressed"},
        tmp_path / "graph.log",
        ros_args=["-p", "use_sim_time:=true"],
    )
    out = tmp_path / "live_bag"
    rec = _cli("record", str(out), "--topics", "/gestures", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert rec.stdout is not None
        line = rec.stdout.readline()  # printed once /gestures is discovered and subscribed
        assert line.startswith("recording"), line + graph.log()
        time.sleep(1.0)
        play = subprocess.run(
            # half speed: images are keep-last-1, so a frame arriving while the node is still busy
            # replaces the one waiting; stamps (use_sim_time) do not depend on the speed
            [sys.executable, "-m", "gesture_ros.cli", "replay", str(SAMPLE), "--wait-for-subscribers", "1", "--rate", "0.5"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert play.returncode == 0, play.stdout + play.stderr
        time.sleep(2.0)
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=30)
        graph.stop()
    assert rec.returncode == 0, graph.log()
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    # the keys rosbag2 (version 9) writes and `ros2 bag info` reads
    assert meta["version"] == 9 and meta["storage_identifier"] == "sqlite3"
    assert {"duration", "starting_time", "message_count", "relative_file_paths", "files", "compression_format",
            "compression_mode", "custom_data", "ros_distro"} <= set(meta)  # fmt: skip
    assert meta["message_count"] == 20 and all((out / f).is_file() for f in meta["relative_file_paths"])
    topic = meta["topics_with_message_count"][0]["topic_metadata"]
    assert topic["serialization_format"] == "cdr"
    assert topic["name"] == "/gestures" and topic["type"] == "gesture_ros_msgs/msg/GestureArray"
    # the hash rosidl generated for the message, so `ros2 bag play` accepts the bag
    generated = (ROOT / ".venv" / "share" / "gesture_ros_msgs" / "msg" / "GestureArray.json").read_text()
    assert topic["type_description_hash"] in generated
    cmp = compare_recording(offline, out)
    assert cmp["identical"], cmp
    # use_sim_time: output stamps are the recorded image stamps
    stamps = [m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in read_messages(out, "/gestures")]
    assert stamps == [f["stamp_ns"] for f in offline["per_frame"]]


def test_compare_reports_dropped_frames(tmp_path: Path) -> None:
    report = evaluate_bag(SAMPLE)
    # a recording with the first 5 frames missing: written by record's own writer path
    from rosbags.rosbag2 import Writer

    from gesture_ros.bags import message_typestore

    ts = message_typestore()
    GA, H, T = (
        ts.types[n] for n in ("gesture_ros_msgs/msg/GestureArray", "std_msgs/msg/Header", "builtin_interfaces/msg/Time")
    )
    out = tmp_path / "partial"
    with Writer(out, version=9) as w:
        conn = w.add_connection("/gestures", "gesture_ros_msgs/msg/GestureArray", typestore=ts)
        for f in report["per_frame"][5:]:
            s = f["stamp_ns"]
            msg = GA(header=H(stamp=T(sec=s // 10**9, nanosec=s % 10**9), frame_id="camera"), gestures=[])
            w.write(conn, s, ts.serialize_cdr(msg, "gesture_ros_msgs/msg/GestureArray"))
    cmp = compare_recording(report, out)
    assert cmp["dropped_stamps"] == [f["stamp_ns"] for f in report["per_frame"][:5]]
    assert not cmp["identical"]
    with_hands = [f["stamp_ns"] for f in report["per_frame"][5:] if f["hands"]]
    assert cmp["mismatched_stamps"] == with_hands  # the fake recording has no hands


def test_recorder_killed_mid_run_leaves_a_readable_bag(tmp_path: Path) -> None:
    """`kill` (SIGTERM) while messages are flowing: the recorder finalises the bag (metadata,
    message count) and exits 0; every message it reported is in the bag."""
    from gesture_ros_msgs.msg import GestureArray
    from ros_harness import Harness, header

    out = tmp_path / "killed_bag"
    rec = _cli("record", str(out), "--topics", "/kill_test/gestures", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    h = Harness()
    pub = h.publisher(GestureArray, "/kill_test/gestures")
    try:
        assert rec.stdout is not None
        assert rec.stdout.readline().startswith("recording")
        assert h.spin_until(lambda: pub.get_subscription_count() >= 1, 20)
        for i in range(60):  # still publishing when the signal arrives
            msg = GestureArray()
            msg.header = header(1_000_000_000 + i, "cam")
            pub.publish(msg)
            h.spin_until(lambda: False, 0.02)
            if i == 40:
                rec.send_signal(signal.SIGTERM)
        out_text, _ = rec.communicate(timeout=30)
    finally:
        if rec.poll() is None:
            rec.kill()
        h.close()
    assert rec.returncode == 0, out_text
    meta = yaml.safe_load((out / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    stamps = [
        m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in read_messages(out, "/kill_test/gestures")
    ]
    assert meta["message_count"] == len(stamps) >= 20
    assert stamps == sorted(stamps) and stamps[0] >= 1_000_000_000
    assert f"/kill_test/gestures: {len(stamps)}" in out_text

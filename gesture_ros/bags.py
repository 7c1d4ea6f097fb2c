"""Rosbag2 tools on the ``rosbags`` library (no hand-written CDR, sqlite or mcap code):
turning videos / image folders into bags, and replaying a bag's camera topics through rclpy
with the recorded timing and a ``/clock`` so nodes can run with ``use_sim_time``.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .core.depth import DEPTH_ENCODINGS
from .core.errors import ConfigError, GestureRosError
from .core.sources import ImageFolderSource, open_source

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
#: what replay publishes: images (colour and depth) and the cameras' intrinsics
REPLAY_TYPES = (*IMAGE_TYPES, "sensor_msgs/msg/CameraInfo")
#: the first frame of a made bag; fixed so that the same input always makes the same bag
DEFAULT_START_NS = 1_700_000_000_000_000_000
FRAMES_CSV = "gesture_ros_frames.csv"
#: ground truth written by make-bag --labels: {stamp_ns: [[class, x1, y1, x2, y2], ...]}
LABELS_JSON = "gesture_ros_labels.json"


class BagError(GestureRosError):
    """A bag that is missing, unreadable, truncated or has no usable topic."""


def typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def make_bag(
    source: str,
    out: Path,
    *,
    topic: str = "/camera/image_raw",
    frame_id: str = "camera",
    rate: float = 10.0,
    storage: str = "sqlite3",
    compressed: bool = False,
    start_ns: int = DEFAULT_START_NS,
    labels: Path | None = None,
    depth: float | None = None,
) -> int:
    """Write every frame of a video file or image folder as one message; returns the count.

    Stamps are ``start_ns + i / rate``; ``gesture_ros_frames.csv`` beside the data maps each
    stamp to its source frame (image file name or video frame index) for evaluation with
    per-frame labels. Compressed frames go to ``<topic>/compressed`` (the image_transport
    convention the nodes subscribe to with ``image_transport: compressed``). With ``labels``
    (a folder of KITTI files named like the images, for an image folder source) the boxes are
    stored as ``gesture_ros_labels.json`` keyed by stamp. With ``depth`` (metres), each frame
    also gets a synthetic aligned depth image (16UC1, a plane at that distance) and a CameraInfo
    (a 60 degree horizontal field of view), on the RealSense topics beside ``topic``'s namespace
    (``<ns>/aligned_depth_to_color/image_raw``, ``<ns>/color/camera_info``), for trying the hand
    positions without a depth camera.
    """
    import cv2
    from rosbags.rosbag2 import StoragePlugin, Writer

    if rate <= 0:
        raise ConfigError(f"rate must be > 0, got {rate}")
    plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
    if storage not in plugins:
        raise ConfigError(f"storage must be one of {', '.join(plugins)}, got {storage!r}")
    if out.exists():
        raise ConfigError(f"output bag {out} exists already")
    src = open_source(source)
    if labels is not None and not isinstance(src, ImageFolderSource):
        raise ConfigError("--labels needs an image folder source (labels are matched by file name)")
    if labels is not None and not labels.is_dir():
        raise ConfigError(f"labels folder not found: {labels}")
    if not src.finite:
        raise ConfigError(f"make-bag needs a video file or an image folder, got {src.description}")
    if depth is not None and not 0.1 <= depth <= 65.0:
        raise ConfigError(f"depth must be within 0.1-65 m (16UC1 millimetres), got {depth}")
    if compressed and not topic.endswith("/compressed"):
        topic = topic.rstrip("/") + "/compressed"
    ts = typestore()
    msgtype = IMAGE_TYPES[1] if compressed else IMAGE_TYPES[0]
    msg_cls = ts.types[msgtype]
    header_cls, time_cls = ts.types["std_msgs/msg/Header"], ts.types["builtin_interfaces/msg/Time"]
    rows: list[tuple[int, int, str]] = []
    with Writer(out, version=9, storage_plugin=plugins[storage]) as writer:
        conn = writer.add_connection(topic, msgtype, typestore=ts)
        extra = _DepthTopics(writer, ts, topic, depth) if depth is not None else None
        i = 0
        while (frame := src.read()) is not None:
            stamp = start_ns + round(i * 1e9 / rate)
            header = header_cls(
                stamp=time_cls(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000), frame_id=frame_id
            )
            if compressed:
                ok, jpg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise BagError(f"cannot JPEG-encode frame {i} of {source}")
                msg = msg_cls(header=header, format="jpeg", data=jpg.reshape(-1))
            else:
                h, w = frame.shape[:2]
                data = np.ascontiguousarray(frame).reshape(-1)
                msg = msg_cls(header=header, height=h, width=w, encoding="bgr8", is_bigendian=0, step=w * 3, data=data)
            if extra is not None:  # before the colour frame: a node finds its depth waiting
                extra.write(header, stamp, frame.shape[1], frame.shape[0])
            writer.write(conn, stamp, ts.serialize_cdr(msg, msgtype))
            name = src.files[src.index - 1].name if isinstance(src, ImageFolderSource) else str(i)
            rows.append((i, stamp, name))
            i += 1
    src.close()
    if labels is not None:
        from .core.kitti import read_kitti

        truth: dict[str, list[list[Any]]] = {}
        for _, stamp, name in rows:
            boxes, classes = read_kitti(labels / (Path(name).stem + ".txt"))
            truth[str(stamp)] = [[c, *map(float, b)] for c, b in zip(classes, boxes, strict=True)]
        (out / LABELS_JSON).write_text(json.dumps(truth, indent=1))
    with (out / FRAMES_CSV).open("w", newline="") as f:
        w_ = csv.writer(f)
        w_.writerow(["index", "stamp_ns", "source"])
        w_.writerows(rows)
    if not rows:
        raise BagError(f"{source} has no readable frames")
    return len(rows)


class _DepthTopics:
    """The synthetic depth image and CameraInfo that ``make_bag(depth=...)`` writes per frame."""

    def __init__(self, writer: Any, ts: Any, topic: str, depth: float) -> None:
        ns = topic.rstrip("/").rsplit("/", 1)[0] if topic.count("/") > 1 else ""
        ns = ns.removesuffix("/color")  # /camera/color/image_raw -> /camera (the RealSense layout)
        self.depth_topic, self.info_topic = f"{ns}/aligned_depth_to_color/image_raw", f"{ns}/color/camera_info"
        self.writer, self.ts, self.mm = writer, ts, round(depth * 1000)
        self.image_conn = writer.add_connection(self.depth_topic, "sensor_msgs/msg/Image", typestore=ts)
        self.info_conn = writer.add_connection(self.info_topic, "sensor_msgs/msg/CameraInfo", typestore=ts)

    def write(self, header: Any, stamp: int, w: int, h: int) -> None:
        ts = self.ts
        plane = np.full(w * h, self.mm, "<u2").view(np.uint8)
        image = ts.types["sensor_msgs/msg/Image"](
            header=header, height=h, width=w, encoding="16UC1", is_bigendian=0, step=w * 2, data=plane
        )
        f = w / (2 * np.tan(np.radians(30.0)))  # 60 degrees across
        k = np.array([f, 0, (w - 1) / 2, 0, f, (h - 1) / 2, 0, 0, 1], np.float64)
        p = np.array([f, 0, (w - 1) / 2, 0, 0, f, (h - 1) / 2, 0, 0, 0, 1, 0], np.float64)
        roi = ts.types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        info = ts.types["sensor_msgs/msg/CameraInfo"](
            header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5, np.float64), k=k,
            r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0, roi=roi,
        )  # fmt: skip
        self.writer.write(self.image_conn, stamp, ts.serialize_cdr(image, "sensor_msgs/msg/Image"))
        self.writer.write(self.info_conn, stamp, ts.serialize_cdr(info, "sensor_msgs/msg/CameraInfo"))


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    timestamp_ns: int
    cdr: bytes


def read_images(
    bag: Path, topics: list[str] | None = None, types: tuple[str, ...] = IMAGE_TYPES, depth: bool = False
) -> Iterator[BagMessage]:
    """The bag's image messages in time order, re-serialised for this distro's types.

    Bags from other distros (or with their own message definitions) are read with the
    definitions stored in the bag and written out with Kilted's, so field layout differences
    do not reach the nodes. Depth images (16UC1, 32FC1) come only with ``depth`` (replay) or when
    their topic is named: an evaluation of a bag with depth reads its colour images.
    """
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.rosbag2 import ReaderError

    ts = typestore()
    if not bag.exists():
        raise BagError(f"bag not found: {bag}")
    try:
        with AnyReader([bag], default_typestore=ts) as reader:
            conns = [c for c in reader.connections if c.msgtype in types and (not topics or c.topic in topics)]
            if not conns:
                found = ", ".join(sorted({f"{c.topic} ({c.msgtype})" for c in reader.connections})) or "none"
                raise BagError(
                    f"bag {bag} has no image topic{' among ' + ', '.join(topics) if topics else ''} (topics: {found})"
                )
            for conn, t, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                if not depth and not topics and getattr(msg, "encoding", "") in DEPTH_ENCODINGS:
                    continue
                yield BagMessage(conn.topic, conn.msgtype, int(t), bytes(ts.serialize_cdr(msg, conn.msgtype)))
    except (AnyReaderError, ReaderError) as exc:
        raise BagError(f"cannot read bag {bag}: {exc}") from None
    except Exception as exc:
        if isinstance(exc, BagError):
            raise
        raise BagError(f"bag {bag} is corrupt or truncated: {type(exc).__name__}: {exc}") from None


def replay(
    bag: Path,
    *,
    rate: float = 1.0,
    loop: bool = False,
    start_offset: float = 0.0,
    remap: dict[str, str] | None = None,
    topics: list[str] | None = None,
    clock: bool = True,
    wait_for_subscribers: int = 0,
    wait_timeout: float = 30.0,
    on_published: Callable[[BagMessage], None] | None = None,
) -> int:
    """Publish the bag's image and CameraInfo topics with the recorded timing (scaled by ``rate``); returns
    the number of messages published. ``/clock`` follows the bag time."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    if rate <= 0:
        raise ConfigError(f"rate must be > 0, got {rate}")
    messages = list(
        read_images(bag, topics, REPLAY_TYPES, depth=True)
    )  # the whole bag first: damage is found before publishing
    remap = remap or {}
    rclpy.init()
    node = rclpy.create_node("gesture_ros_replay")
    published = 0
    try:
        types = {
            "sensor_msgs/msg/Image": Image,
            "sensor_msgs/msg/CompressedImage": CompressedImage,
            "sensor_msgs/msg/CameraInfo": CameraInfo,
        }
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {
            (m.topic, m.msgtype): node.create_publisher(types[m.msgtype], remap.get(m.topic, m.topic), qos)
            for m in messages
        }
        clock_pub = node.create_publisher(Clock, "/clock", 10) if clock else None
        deadline = time.monotonic() + wait_timeout
        while wait_for_subscribers and time.monotonic() < deadline:
            if all(p.get_subscription_count() >= wait_for_subscribers for p in pubs.values()):
                time.sleep(1.0)  # readers match writers a little after writers see them
                break
            time.sleep(0.05)
        t_first = messages[0].timestamp_ns + int(start_offset * 1e9)
        while True:
            wall0 = time.monotonic()
            for m in messages:
                if m.timestamp_ns < t_first:
                    continue
                delay = (m.timestamp_ns - t_first) / 1e9 / rate - (time.monotonic() - wall0)
                if delay > 0:
                    time.sleep(delay)
                if clock_pub is not None:
                    c = Clock()
                    c.clock.sec, c.clock.nanosec = divmod(m.timestamp_ns, 1_000_000_000)
                    clock_pub.publish(c)
                pubs[(m.topic, m.msgtype)].publish(m.cdr)
                published += 1
                if on_published is not None:
                    on_published(m)
            if not loop:
                break
        time.sleep(0.2)  # let the last reliable samples go out
        return published
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def _msg_dir() -> Path:
    """The gesture_ros_msgs .msg sources: the checkout's msg/ or the installed package's."""
    from . import paths

    here = paths.share_dir() / "msg"
    if here.is_dir():
        return here
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("gesture_ros_msgs")) / "msg"
    except Exception as exc:
        raise BagError(f"cannot find the gesture_ros_msgs definitions: {exc}") from None


def message_typestore() -> Any:
    """Kilted's types plus gesture_ros_msgs (their RIHS01 hashes equal rosidl's)."""
    from rosbags.typesys import get_types_from_msg

    ts = typestore()
    types: dict[str, Any] = {}
    for f in sorted(_msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(f.read_text(), f"gesture_ros_msgs/msg/{f.stem}"))
    ts.register(types)
    return ts


def _message_class(msgtype: str) -> Any:
    import importlib

    pkg, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


def record(
    out: Path,
    topics: list[str],
    *,
    storage: str = "sqlite3",
    duration: float = 0.0,
    discovery_timeout: float = 15.0,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Record ``topics`` (raw CDR, no deserialisation) until SIGINT/SIGTERM or ``duration``.

    Types and QoS come from the publishers on the graph (waits up to ``discovery_timeout`` for
    them). The bag is closed, with its metadata.yaml, on every way out, so an interrupted
    recording stays readable. Timestamps are the receive times on the node's clock
    (``use_sim_time`` follows /clock), as ``ros2 bag record`` does.
    """
    import signal
    import threading

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.signals import SignalHandlerOptions
    from rosbags.rosbag2 import StoragePlugin, Writer

    plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
    if storage not in plugins:
        raise ConfigError(f"storage must be one of {', '.join(plugins)}, got {storage!r}")
    if out.exists():
        raise ConfigError(f"output bag {out} exists already")
    ts = message_typestore()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node("gesture_ros_record", automatically_declare_parameters_from_overrides=True)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    counts = dict.fromkeys(topics, 0)
    try:
        found: dict[str, str] = {}
        deadline = time.monotonic() + discovery_timeout
        while len(found) < len(topics) and time.monotonic() < deadline and not stop.is_set():
            names = dict(node.get_topic_names_and_types())
            found = {t: names[t][0] for t in topics if names.get(t)}
            executor.spin_once(timeout_sec=0.1)
        missing = [t for t in topics if t not in found]
        if missing:
            raise BagError(f"no publisher for {', '.join(missing)} after {discovery_timeout:.0f} s: nothing to record")
        with Writer(out, version=9, storage_plugin=plugins[storage]) as writer:
            for topic in topics:
                conn = writer.add_connection(topic, found[topic], typestore=ts)
                infos = node.get_publishers_info_by_topic(topic)
                best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for i in infos)
                qos = QoSProfile(
                    depth=100, reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
                )

                def on_msg(data: bytes, conn: Any = conn, topic: str = topic) -> None:
                    writer.write(conn, node.get_clock().now().nanoseconds, data)
                    counts[topic] += 1

                node.create_subscription(_message_class(found[topic]), topic, on_msg, qos, raw=True)
            if on_ready is not None:
                on_ready()
            end = time.monotonic() + duration if duration > 0 else float("inf")
            while not stop.is_set() and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.1)
        return counts
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


def read_messages(bag: Path, topic: str) -> list[Any]:
    """Every message of ``topic``, deserialised with gesture_ros_msgs known (for checks/tools)."""
    from rosbags.highlevel import AnyReader

    ts = message_typestore()
    try:
        with AnyReader([bag], default_typestore=ts) as reader:
            conns = [c for c in reader.connections if c.topic == topic]
            return [reader.deserialize(raw, c.msgtype) for c, _, raw in reader.messages(connections=conns)]
    except Exception as exc:
        raise BagError(f"cannot read {topic} from {bag}: {exc}") from None

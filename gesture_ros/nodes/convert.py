"""Message <-> core conversions (the only place that knows both worlds)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from builtin_interfaces.msg import Time
from gesture_ros_msgs.msg import Box, Detection, DetectionArray, Gesture, GestureArray, GestureEvent
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from ..core.image import Image as ImageArray
from ..core.image import PixelOrder, decode_compressed, image_view
from ..core.motion import MotionEvent
from ..core.pipeline import Hand
from ..core.tracking import GestureChange


def stamp_key(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_from_msg(msg: Image | CompressedImage) -> tuple[ImageArray, PixelOrder]:
    """A zero-copy view for raw images, a decode for compressed ones; ImageFormatError otherwise."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg.data)
    return image_view(msg.encoding, msg.height, msg.width, msg.step, msg.data)


def image_to_msg(image: ImageArray, header: Header, encoding: str = "bgr8") -> Image:
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(image.shape[1] * (image.shape[2] if image.ndim == 3 else 1))
    msg.data = np.ascontiguousarray(image).tobytes()
    return msg


def _box(v: npt.ArrayLike) -> Box:
    x1, y1, x2, y2 = (float(a) for a in np.asarray(v).reshape(4))
    return Box(x_min=x1, y_min=y1, x_max=x2, y_max=y2)


def box_array(b: Box) -> npt.NDArray[np.float32]:
    return np.array([b.x_min, b.y_min, b.x_max, b.y_max], dtype=np.float32)


def detection_msg(header: Header, hand: Hand) -> Detection:
    d = Detection()
    d.header = header
    d.label = hand.label
    d.class_id = hand.class_id
    d.score = float(hand.score)
    d.box = _box(hand.box)
    d.roi = _box(hand.roi)
    d.roi_valid = bool(hand.roi_valid)
    if hand.position is not None:
        d.position.x, d.position.y, d.position.z = (float(v) for v in hand.position)
        d.position_valid = True
    return d


def detections_msg(header: Header, hands: list[Hand], size: tuple[int, int], with_roi: bool = True) -> DetectionArray:
    """``size`` is the source image's (width, height)."""
    out = DetectionArray()
    out.header = header
    out.image_width, out.image_height = int(size[0]), int(size[1])
    for h in hands:
        d = detection_msg(header, h)
        if not with_roi:
            d.roi = Box()
            d.roi_valid = False
        out.detections.append(d)
    return out


def hands_from_msg(msg: DetectionArray) -> list[Hand]:
    return [
        Hand(box_array(d.box), float(d.score), int(d.class_id), d.label, box_array(d.roi), bool(d.roi_valid))
        for d in msg.detections
    ]


def gesture_msg(header: Header, hand: Hand) -> Gesture:
    g = Gesture()
    g.header = header
    g.hand = detection_msg(header, hand)
    g.track_id = int(hand.track_id)
    r = hand.gesture
    if r is None:
        g.label, g.class_id, g.confidence, g.available = "", -1, 0.0, False
    else:
        g.label, g.class_id, g.confidence, g.available = r.label, r.class_id, float(r.confidence), True
        g.scores = [float(s) for s in r.scores]
    return g


def gestures_msg(header: Header, hands: list[Hand]) -> GestureArray:
    out = GestureArray()
    out.header = header
    out.gestures = [gesture_msg(header, h) for h in hands]
    return out


def event_msgs(
    header: Header, hands: list[Hand], changes: list[GestureChange], motions: list[MotionEvent] | None = None
) -> list[GestureEvent]:
    """One GestureEvent per confirmed gesture change, then one per motion gesture."""
    by_track: dict[int, Hand] = {h.track_id: h for h in hands}

    def event(track_id: int, previous: str = "", motion: str = "") -> GestureEvent:
        ev = GestureEvent()
        ev.header = header
        ev.track_id, ev.previous_label, ev.motion = track_id, previous, motion
        if track_id in by_track:
            ev.gesture = gesture_msg(header, by_track[track_id])
        return ev

    return [event(c.track_id, previous=c.previous) for c in changes] + [
        event(m.track_id, motion=m.motion) for m in motions or []
    ]

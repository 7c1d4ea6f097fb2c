"""Drawing detections and gestures onto a BGR frame (for rqt_image_view, rviz and videos)."""

from __future__ import annotations

import cv2
import numpy as np

from .image import Image
from .pipeline import Hand

_COLOURS = [(0, 200, 255), (0, 255, 0), (255, 128, 0), (255, 0, 255), (0, 128, 255), (128, 128, 128)]


def draw(frame_bgr: Image, hands: list[Hand]) -> Image:
    """Draw in place: the detector box (solid), the classified ROI (thin) and the gesture label."""
    for h in hands:
        x1, y1, x2, y2 = (round(float(v)) for v in h.box)
        cid = h.gesture.class_id if h.gesture is not None else -1
        colour = _COLOURS[cid % len(_COLOURS)] if cid >= 0 else (200, 200, 200)
        cv2.rectangle(frame_bgr, (x1, y1), (x2, y2), colour, 2)
        if h.roi_valid:
            r = [round(float(v)) for v in h.roi]
            cv2.rectangle(frame_bgr, (r[0], r[1]), (r[2], r[3]), colour, 1)
        text = f"{h.label} {h.score:.2f}"
        if h.gesture is not None:
            text = f"{h.gesture.label} {h.gesture.confidence:.2f}"
        if h.track_id >= 0:
            text = f"#{h.track_id} {text}"
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(y1 - 4, th + 2)
        cv2.rectangle(frame_bgr, (x1, ty - th - 3), (x1 + tw + 2, ty + 2), colour, -1)
        cv2.putText(frame_bgr, text, (x1 + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return frame_bgr


def to_bgr(image: Image, order: str) -> Image:
    """A drawable BGR copy of any accepted image."""
    if order == "mono":
        return cv2.cvtColor(np.ascontiguousarray(image.reshape(image.shape[0], image.shape[1])), cv2.COLOR_GRAY2BGR)
    img3 = image[..., :3]
    return np.ascontiguousarray(img3[..., ::-1] if order == "rgb" else img3)

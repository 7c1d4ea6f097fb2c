"""overlay: Image + GestureArray (same stamp) -> annotated Image (rqt_image_view, rviz), and
optionally a video file."""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import GestureArray
from sensor_msgs.msg import Image

from ..core.classify import GestureResult
from ..core.overlay import draw, to_bgr
from ..core.pipeline import Hand
from ..settings import OVERLAY_PARAMS
from .base import IMAGE_QOS, BaseNode, spin_node
from .convert import box_array, image_to_msg
from .publishing import safe_publish
from .video import VideoSink


def hands_from_gestures(msg: GestureArray) -> list[Hand]:
    import numpy as np

    hands = []
    for g in msg.gestures:
        d = g.hand
        res = GestureResult(int(g.class_id), g.label, float(g.confidence), np.asarray(g.scores, np.float32)) if g.available else None
        hands.append(
            Hand(box_array(d.box), float(d.score), int(d.class_id), d.label, box_array(d.roi), bool(d.roi_valid), res, int(g.track_id))
        )
    return hands


class OverlayNode(BaseNode):
    def __init__(self) -> None:
        super().__init__(
            "overlay", ("image_topic", "image_transport", "gestures_topic", "overlay_topic", "sync.queue_size", *OVERLAY_PARAMS)
        )
        v = self.values
        self.pub = self.create_publisher(Image, v["overlay_topic"], IMAGE_QOS) if v["overlay.publish"] else None
        self.video = VideoSink(v["overlay.video_path"], float(v["overlay.video_fps"]), self) if v["overlay.video_path"] else None
        self.subscribe_synced(GestureArray, v["gestures_topic"], self._draw)

    def _draw(self, image_msg: Any, gestures: GestureArray) -> None:
        got = self.frame_from(image_msg)
        if got is None:
            return
        frame = draw(to_bgr(*got), hands_from_gestures(gestures))
        if self.pub is not None:
            safe_publish(self, self.pub, image_to_msg(frame, image_msg.header))
        if self.video is not None:
            self.video.write(frame)
        self.stats.output(self.latency_ms(image_msg.header.stamp))

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def main(args: list[str] | None = None) -> None:
    spin_node(OverlayNode, args)


if __name__ == "__main__":
    main()

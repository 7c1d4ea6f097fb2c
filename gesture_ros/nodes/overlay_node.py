"""overlay: Image + GestureArray (same stamp) -> annotated Image (rqt_image_view, rviz), and
optionally a video file."""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import GestureArray

from ..core.classify import GestureResult
from ..core.overlay import draw, to_bgr
from ..core.pipeline import Hand
from ..core.received import check_hands
from ..settings import IMAGE_INPUT_PARAMS, OVERLAY_PARAMS
from .base import GestureNode, spin_node
from .convert import box_array
from .video import OverlayOutput


def hands_from_gestures(msg: GestureArray) -> list[Hand]:
    import numpy as np

    hands = []
    for g in msg.gestures:
        d = g.hand
        res = (
            GestureResult(int(g.class_id), g.label, float(g.confidence), np.asarray(g.scores, np.float32))
            if g.available
            else None
        )
        hands.append(
            Hand(
                box_array(d.box),
                float(d.score),
                int(d.class_id),
                d.label,
                box_array(d.roi),
                bool(d.roi_valid),
                res,
                int(g.track_id),
            )
        )
    return hands


class OverlayNode(GestureNode):
    def __init__(self) -> None:
        super().__init__(
            "overlay",
            (*IMAGE_INPUT_PARAMS, "gestures_topic", "overlay_topic", "sync.queue_size", *OVERLAY_PARAMS),
        )
        v = self.values
        self.overlay = OverlayOutput(self)
        self.images = self.image_input()
        self.images.synced(GestureArray, v["gestures_topic"], self._draw)

    def _draw(self, image_msg: Any, gestures: GestureArray) -> None:
        got = self.images.frame(image_msg)
        if got is None:
            return
        h, w = got[0].shape[:2]
        hands = hands_from_gestures(gestures)
        for problem in check_hands(hands, w, h):
            self.diag.report("bad_gestures", f"{self.values['gestures_topic']}: {problem}; drawn where it can be")
        frame = draw(to_bgr(*got), hands)
        self.overlay.emit(frame, image_msg.header)
        self.diag.stats.output(self.latency_ms(image_msg.header.stamp))

    def close(self) -> None:
        self.overlay.close()


def main(args: list[str] | None = None) -> None:
    spin_node(OverlayNode, args)


if __name__ == "__main__":
    main()

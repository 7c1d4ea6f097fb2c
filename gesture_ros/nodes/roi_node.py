"""roi: DetectionArray -> DetectionArray with expanded, square, clipped ROIs."""

from __future__ import annotations

import numpy as np
from gesture_ros_msgs.msg import DetectionArray

from ..core.received import check_hand
from ..core.roi import RoiConfig, expand_rois
from ..settings import ROI, ROI_PARAMS
from .base import RESULT_QOS, GestureNode, spin_node
from .convert import _box, hands_from_msg
from .stage_runner import StageRunner


class RoiNode(GestureNode):
    def __init__(self) -> None:
        super().__init__("roi", ("detections_topic", "rois_topic", *ROI_PARAMS), applies=(ROI,))
        self.roi = self.params.get(ROI)
        self.params.on_change(ROI, self._set_roi)
        self.pub = self.create_publisher(DetectionArray, self.values["rois_topic"], RESULT_QOS)
        self.runner = StageRunner(self.diag, "roi", self.latency_ms)
        self.create_subscription(DetectionArray, self.values["detections_topic"], self._on_detections, RESULT_QOS)

    def _set_roi(self, roi: RoiConfig) -> None:
        self.roi = roi

    def _on_detections(self, msg: DetectionArray) -> None:
        self.diag.stats.input()
        if msg.detections:
            w, h = int(msg.image_width), int(msg.image_height)
            if w == 0 or h == 0:
                self.diag.report(
                    "rejected_detections", "rejected DetectionArray without image_width/image_height: cannot clip ROIs"
                )
                return
            with self.diag.stats.timed("roi"):
                hands = hands_from_msg(msg)
                usable = []
                for i, hand in enumerate(hands):
                    problems, box_ok = check_hand(hand, w, h)
                    for p in problems:
                        self.diag.report(
                            "bad_detections", f"{self.values['detections_topic']}: {p}; that hand gets no ROI"
                        )
                    if box_ok:
                        usable.append(i)
                rois = np.zeros((len(hands), 4), np.float32)
                valid = np.zeros(len(hands), bool)
                if usable:
                    rois[usable], valid[usable] = expand_rois(np.stack([hands[i].box for i in usable]), w, h, self.roi)
                for d, hand, r, ok in zip(msg.detections, hands, rois, valid, strict=True):
                    d.box, d.score = _box(hand.box), hand.score  # made finite and within reach of the image
                    d.roi, d.roi_valid = _box(r), bool(ok)
        self.runner.publish(msg.header.stamp, (self.pub, msg))


def main(args: list[str] | None = None) -> None:
    spin_node(RoiNode, args)


if __name__ == "__main__":
    main()

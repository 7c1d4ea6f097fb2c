"""roi: DetectionArray -> DetectionArray with expanded, square, clipped ROIs."""

from __future__ import annotations

import numpy as np
from gesture_ros_msgs.msg import DetectionArray

from ..core.roi import expand_rois
from ..settings import ROI_PARAMS, roi_config
from .base import RESULT_QOS, BaseNode, spin_node
from .convert import _box, box_array
from .publishing import safe_publish


class RoiNode(BaseNode):
    def __init__(self) -> None:
        super().__init__("roi", ("detections_topic", "rois_topic", *ROI_PARAMS))
        self.pub = self.create_publisher(DetectionArray, self.values["rois_topic"], RESULT_QOS)
        self.create_subscription(DetectionArray, self.values["detections_topic"], self._on_detections, RESULT_QOS)

    def _on_detections(self, msg: DetectionArray) -> None:
        self.stats.input()
        if msg.detections:
            if msg.image_width == 0 or msg.image_height == 0:
                self.report("rejected_detections", "rejected DetectionArray without image_width/image_height: cannot clip ROIs")
                return
            with self.stats.timed("roi"):
                boxes = np.stack([box_array(d.box) for d in msg.detections])
                rois, valid = expand_rois(boxes, msg.image_width, msg.image_height, roi_config(self.values))
                for d, r, ok in zip(msg.detections, rois, valid, strict=True):
                    d.roi, d.roi_valid = _box(r), bool(ok)
        with self.stats.timed("publish"):
            published = safe_publish(self, self.pub, msg)
        if published:
            self.stats.output(self.latency_ms(msg.header.stamp))


def main(args: list[str] | None = None) -> None:
    spin_node(RoiNode, args)


if __name__ == "__main__":
    main()

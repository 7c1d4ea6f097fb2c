"""hand_detector: Image -> DetectionArray (DetectNet_v2 decoding + clustering)."""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray

from ..core.errors import BackendUnavailableError, GestureRosError, ModelError
from ..core.pipeline import HandDetector, Timings, build_hands
from ..settings import DETECTOR_PARAMS, cluster_config
from .base import RESULT_QOS, BaseNode, spin_node
from .convert import detections_msg
from .publishing import safe_publish
from .stages import build_detector


class HandDetectorNode(BaseNode):
    def __init__(self) -> None:
        super().__init__("hand_detector", ("image_topic", "image_transport", "detections_topic", "models_file", *DETECTOR_PARAMS))
        self.pub = self.create_publisher(DetectionArray, self.values["detections_topic"], RESULT_QOS)
        self.detector: HandDetector | None = None
        try:
            self.detector = build_detector(self, self.models())
        except (GestureRosError, OSError) as exc:
            self.fail_startup(exc)
        self.on_parameters_changed(self._reconfigure)
        self.subscribe_images(self.dispatcher(self._on_image, self.values["detector.backend"] == "triton"))

    def _reconfigure(self) -> None:
        if self.detector is not None:
            self.detector.clustering = cluster_config(self.values)

    def _on_image(self, msg: Any) -> None:
        frame = self.accept(msg, self.detector is not None)
        if frame is None or self.detector is None:
            return
        image, order = frame
        timings = Timings()
        try:
            dets = self.detector.detect(image, order, timings)
        except BackendUnavailableError as exc:
            self.detect_unavailable(exc, self.detector.link)
            return
        except ModelError as exc:
            self.report("inference_errors", f"detector inference failed: {exc}")
            return
        self.link_outcome("detector", self.detector.link)
        h, w = image.shape[:2]
        self.stats.timings(timings)
        self.note_nonfinite("detector", self.detector.nonfinite_frames)
        hands = build_hands(dets, self.detector.spec.labels, w, h, None)
        with self.stats.timed("publish"):
            published = safe_publish(self, self.pub, detections_msg(msg.header, hands, (w, h), with_roi=False))
        if published:
            self.stats.output(self.latency_ms(msg.header.stamp))


def main(args: list[str] | None = None) -> None:
    spin_node(HandDetectorNode, args)


if __name__ == "__main__":
    main()

"""hand_detector: Image -> DetectionArray (DetectNet_v2 decoding + clustering)."""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray

from ..core.detectnet import ClusterConfig
from ..core.pipeline import HandDetector, Timings, build_hands
from ..core.speed import FrameSkipper
from ..settings import CLUSTERING, DETECTOR_PARAMS, IMAGE_INPUT_PARAMS, INTERVAL, RECONNECT
from .base import RESULT_QOS, ManagedNode, spin_node
from .convert import detections_msg
from .stage_runner import StageRunner
from .stages import build_detector


class HandDetectorNode(ManagedNode):
    def __init__(self) -> None:
        super().__init__(
            "hand_detector",
            (*IMAGE_INPUT_PARAMS, "detections_topic", "models_file", *DETECTOR_PARAMS),
            # the reconnect wait is writable where there is a link to apply it to
            applies=lambda v: (
                (CLUSTERING, INTERVAL, RECONNECT) if self.remote("detector")(v) else (CLUSTERING, INTERVAL)
            ),
        )
        self.pub = self.create_lifecycle_publisher(DetectionArray, self.values["detections_topic"], RESULT_QOS)
        self.detector: HandDetector | None = None
        self.params.on_change(CLUSTERING, self._set_clustering)
        # detector.interval: boxes carried by optical flow on the frames the detector skips
        self.skipper = FrameSkipper(self.params.get(INTERVAL))
        self.params.on_change(INTERVAL, lambda interval: setattr(self.skipper, "config", interval))
        if RECONNECT.name in self.params.applies:
            self.params.on_change(
                RECONNECT, lambda wait: self.set_link_waits(wait, self.detector.link if self.detector else None)
            )
        self.runner = StageRunner(self.diag, "detector", self.latency_ms)
        self.images = self.image_input()
        self.on_input = self.dispatcher(self._on_image, self.values["detector.backend"] == "triton")
        self.start()

    def load(self) -> None:
        self.detector = build_detector(self, self.models())

    def unload(self) -> None:
        self.detector = None

    def _set_clustering(self, clustering: ClusterConfig) -> None:
        if self.detector is not None:
            self.detector.clustering = clustering
        self.skipper.restart()  # applies from the next frame, not from the next detector run

    def _on_image(self, msg: Any) -> None:
        frame = self.images.accept(msg, self.detector is not None)
        if frame is None or self.detector is None:
            return
        image, order = frame
        detector, timings = self.detector, Timings()
        dets = self.skipper.carry(image, order)
        if dets is None:
            dets = self.runner.run(lambda: detector.detect(image, order, timings), detector.link)
            if dets is None:
                return
            self.skipper.detections(image, order, dets)
        self.diag.stats.set_counter("detector_runs", self.skipper.detected)
        self.diag.stats.set_counter("carried_frames", self.skipper.carried)
        self.runner.record(timings, detector=detector.nonfinite_frames)
        h, w = image.shape[:2]
        hands = build_hands(dets, detector.spec.labels, w, h, None)
        self.runner.publish(msg.header.stamp, (self.pub, detections_msg(msg.header, hands, (w, h), with_roi=False)))


def main(args: list[str] | None = None) -> None:
    spin_node(HandDetectorNode, args)


if __name__ == "__main__":
    main()

"""gesture_classifier: Image + DetectionArray (same stamp) -> GestureArray (+ GestureEvent).

Uses the ROIs in the incoming DetectionArray (from the roi node); detections that arrive with an
all-zero ROI (straight from the detector) get one computed here with the same core function.
"""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent

from ..core.motion import MotionDetector
from ..core.pipeline import GestureClassifier, assign_tracks, classify_or_reuse, debounce, detect_motion
from ..core.received import prepare_received_hands
from ..core.roi import RoiConfig
from ..core.speed import GestureMemory
from ..factory import tracking
from ..settings import (
    CLASSIFIER_PARAMS,
    DEPTH,
    DEPTH_PARAMS,
    IMAGE_INPUT_PARAMS,
    MOTION,
    RECONNECT,
    REUSE,
    ROI,
    ROI_PARAMS,
    TRACKING,
    TRACKING_PARAMS,
)
from .base import RESULT_QOS, ManagedNode, spin_node
from .convert import event_msgs, gestures_msg, hands_from_msg, stamp_key
from .depth_input import DepthInput
from .stage_runner import StageRunner, safe_publish
from .stages import build_classifier
from .vision import VisionOutput


class GestureClassifierNode(ManagedNode):
    def __init__(self) -> None:
        super().__init__(
            "gesture_classifier",
            (
                *IMAGE_INPUT_PARAMS,
                "rois_topic",
                "gestures_topic",
                "events_topic",
                "vision_msgs_topic",
                "models_file",
                "sync.queue_size",
                *CLASSIFIER_PARAMS,
                *ROI_PARAMS,
                *TRACKING_PARAMS,
                *DEPTH_PARAMS,
            ),
            applies=lambda v: (
                ROI,
                TRACKING,
                REUSE,
                MOTION,
                DEPTH,
                *((RECONNECT,) if self.remote("classifier")(v) else ()),
            ),
        )
        self.pub = self.create_lifecycle_publisher(GestureArray, self.values["gestures_topic"], RESULT_QOS)
        self.events = self.create_lifecycle_publisher(GestureEvent, self.values["events_topic"], RESULT_QOS)
        self.vision = VisionOutput(self, RESULT_QOS)
        self.classifier: GestureClassifier | None = None
        self.tracking = tracking(self.values)
        self.roi = self.params.get(ROI)
        self.params.on_change(ROI, self._set_roi)
        self.params.on_change(TRACKING, self.tracking.configure)
        self.memory = GestureMemory(self.params.get(REUSE))
        self.params.on_change(REUSE, lambda reuse: setattr(self.memory, "config", reuse))
        self.motion = MotionDetector(self.params.get(MOTION))
        self.params.on_change(MOTION, lambda motion: setattr(self.motion, "config", motion))
        self.depth = DepthInput(self, self.values, self.diag, self.params.get(DEPTH))
        self.params.on_change(DEPTH, lambda depth: setattr(self.depth, "config", depth))
        if RECONNECT.name in self.params.applies:
            self.params.on_change(
                RECONNECT, lambda wait: self.set_link_waits(wait, self.classifier.link if self.classifier else None)
            )
        self.runner = StageRunner(self.diag, "classifier", self.latency_ms)
        self.images = self.image_input()
        self.on_input = self.dispatcher(self._process, self.values["classifier.backend"] == "triton")
        self.start()

    def load(self) -> None:
        self.classifier = build_classifier(self, self.models())

    def unload(self) -> None:
        self.classifier = None

    def unsubscribe(self) -> None:
        super().unsubscribe()
        self.depth.unsubscribe()

    def subscribe(self) -> None:
        self.depth.subscribe()
        self.images.synced(DetectionArray, self.values["rois_topic"], self.on_input)

    def _set_roi(self, roi: RoiConfig) -> None:
        self.roi = roi

    def _process(self, image_msg: Any, dets: DetectionArray) -> None:
        hands = hands_from_msg(dets)
        cls = self.classifier
        ended: list[int] | None = None
        if hands and cls is not None:
            frame = self.images.frame(image_msg)
            if frame is None:
                return
            image, order = frame
            h, w = image.shape[:2]
            for problem in prepare_received_hands(hands, w, h, (dets.image_width, dets.image_height), self.roi):
                self.diag.report(
                    "bad_detections", f"{self.values['rois_topic']}: {problem}; that hand is published unclassified"
                )
            ended = assign_tracks(hands, self.tracking)  # before classifying: a track may reuse its gesture
            memory = self.memory
            with self.diag.stats.timed("classify"):
                # a failed inference is reported and the hands are published unclassified
                error = self.runner.run(lambda: classify_or_reuse(cls, memory, image, order, hands))
            self.diag.classify_outcome(error or None, cls.link)
            self.runner.record(classifier=cls.nonfinite)
            self.diag.stats.set_counter("gestures_reused", self.memory.reused)
        elif cls is not None and cls.link is not None:
            cls.link.ready()  # nobody in view: keep reconnecting, and say when it is back
            self.diag.classify_outcome(None, cls.link)
        if ended is None:
            ended = assign_tracks(hands, self.tracking)
        changes = debounce(hands, self.tracking, ended)
        size = (int(dets.image_width), int(dets.image_height)) if dets.image_width and dets.image_height else None
        motions = detect_motion(hands, self.motion, stamp_key(dets.header.stamp) / 1e9, size)
        if size is not None:
            self.depth.locate(dets.header, hands, size)
        self.runner.publish(
            dets.header.stamp, (self.pub, gestures_msg(dets.header, hands)), *self.vision.pairs(dets.header, hands)
        )
        for ev in event_msgs(dets.header, hands, changes, motions):
            safe_publish(self.diag, self.events, ev)


def main(args: list[str] | None = None) -> None:
    spin_node(GestureClassifierNode, args)


if __name__ == "__main__":
    main()

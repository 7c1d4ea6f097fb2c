"""gesture_classifier: Image + DetectionArray (same stamp) -> GestureArray (+ GestureEvent).

Uses the ROIs in the incoming DetectionArray (from the roi node); detections that arrive with an
all-zero ROI (straight from the detector) get one computed here with the same core function.
"""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent

from ..core.errors import GestureRosError, ModelError
from ..core.pipeline import GestureClassifier, classify_hands, prepare_received_hands, track_hands
from ..factory import retune_tracking
from ..settings import CLASSIFIER_PARAMS, ROI_PARAMS, TRACKING_PARAMS, roi_config
from .base import RESULT_QOS, BaseNode, spin_node
from .convert import event_msgs, gestures_msg, hands_from_msg
from .publishing import safe_publish
from .stages import build_classifier, build_tracking


class GestureClassifierNode(BaseNode):
    def __init__(self) -> None:
        super().__init__(
            "gesture_classifier",
            (
                "image_topic",
                "image_transport",
                "rois_topic",
                "gestures_topic",
                "events_topic",
                "models_file",
                "sync.queue_size",
                *CLASSIFIER_PARAMS,
                *ROI_PARAMS,
                *TRACKING_PARAMS,
            ),
        )
        self.pub = self.create_publisher(GestureArray, self.values["gestures_topic"], RESULT_QOS)
        self.events = self.create_publisher(GestureEvent, self.values["events_topic"], RESULT_QOS)
        self.classifier: GestureClassifier | None = None
        try:
            self.classifier = build_classifier(self, self.models())
        except (GestureRosError, OSError) as exc:
            self.fail_startup(exc)
        self.tracker, self.debouncer = build_tracking(self)
        self.on_parameters_changed(self._reconfigure)
        remote = self.values["classifier.backend"] == "triton"
        self.subscribe_synced(DetectionArray, self.values["rois_topic"], self.dispatcher(self._process, remote))

    def _reconfigure(self) -> None:
        """Apply the writable parameters: tracking, events and Triton's reconnect wait (ROI
        parameters are read per message)."""
        self.tracker, self.debouncer = retune_tracking(self.values, self.tracker, self.debouncer)
        if self.classifier is not None and self.classifier.link is not None:
            self.classifier.link.max_wait = float(self.values["triton.reconnect_max"])

    def _process(self, image_msg: Any, dets: DetectionArray) -> None:
        hands = hands_from_msg(dets)
        if hands and self.classifier is not None:
            frame = self.frame_from(image_msg)
            if frame is None:
                return
            image, order = frame
            h, w = image.shape[:2]
            size = (dets.image_width, dets.image_height)
            for problem in prepare_received_hands(hands, w, h, size, roi_config(self.values)):
                self.report("bad_detections", f"{self.values['rois_topic']}: {problem}; that hand is published unclassified")
            try:
                with self.stats.timed("classify"):
                    error = classify_hands(self.classifier, image, order, hands)
            except ModelError as exc:
                self.report("inference_errors", f"classifier inference failed: {exc}")
            else:
                self.classify_outcome(error, self.classifier.link)
                self.note_nonfinite("classifier", self.classifier.nonfinite)
        elif self.classifier is not None and self.classifier.link is not None:
            self.classifier.link.ready()  # nobody in view: keep reconnecting, and say when it is back
            self.classify_outcome(None, self.classifier.link)
        changes = track_hands(hands, self.tracker, self.debouncer)
        with self.stats.timed("publish"):
            published = safe_publish(self, self.pub, gestures_msg(dets.header, hands))
        if published:
            self.stats.output(self.latency_ms(dets.header.stamp))
        for ev in event_msgs(dets.header, hands, changes):
            safe_publish(self, self.events, ev)


def main(args: list[str] | None = None) -> None:
    spin_node(GestureClassifierNode, args)


if __name__ == "__main__":
    main()

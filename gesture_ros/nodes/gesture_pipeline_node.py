"""gesture_pipeline: all stages fused in one process (no image re-publishing).

Image -> DetectionArray (with ROIs) + GestureArray + GestureEvent (+ annotated image), from the
same core objects and the same parameters as the separate nodes.
"""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent

from ..core.errors import BackendUnavailableError, GestureRosError, ModelError
from ..core.overlay import draw, to_bgr
from ..core.pipeline import GesturePipeline
from ..factory import retune_tracking
from ..settings import CLASSIFIER_PARAMS, DETECTOR_PARAMS, OVERLAY_PARAMS, ROI_PARAMS, TRACKING_PARAMS, cluster_config, roi_config
from .base import RESULT_QOS, BaseNode, spin_node
from .convert import detections_msg, event_msgs, gestures_msg
from .publishing import safe_publish
from .stages import build_pipeline
from .video import OverlayOutput


class GesturePipelineNode(BaseNode):
    def __init__(self) -> None:
        super().__init__(
            "gesture_pipeline",
            (
                "image_topic",
                "image_transport",
                "detections_topic",
                "gestures_topic",
                "events_topic",
                "overlay_topic",
                "models_file",
                "classifier.enabled",
                *DETECTOR_PARAMS,
                *ROI_PARAMS,
                *CLASSIFIER_PARAMS,
                *TRACKING_PARAMS,
                *OVERLAY_PARAMS,
            ),
        )
        v = self.values
        self.det_pub = self.create_publisher(DetectionArray, v["detections_topic"], RESULT_QOS)
        self.pub = self.create_publisher(GestureArray, v["gestures_topic"], RESULT_QOS)
        self.events = self.create_publisher(GestureEvent, v["events_topic"], RESULT_QOS)
        self.overlay = OverlayOutput(self)
        self.pipeline: GesturePipeline | None = None
        try:
            self.pipeline = build_pipeline(self, self.models())
        except (GestureRosError, OSError) as exc:
            self.fail_startup(exc)
        self.on_parameters_changed(self._reconfigure)
        self.subscribe_images(self.dispatcher(self._process, "triton" in (v["detector.backend"], v["classifier.backend"])))

    def _reconfigure(self) -> None:
        """Apply the writable parameters (clustering, ROI, tracking, events, Triton's reconnect wait)."""
        if self.pipeline is not None:
            p = self.pipeline
            p.detector.clustering = cluster_config(self.values)
            p.roi = roi_config(self.values)
            p.tracker, p.debouncer = retune_tracking(self.values, p.tracker, p.debouncer)
            if p.classifier is not None and p.classifier.link is not None:
                p.classifier.link.max_wait = float(self.values["triton.reconnect_max"])

    def _process(self, msg: Any) -> None:
        frame = self.accept(msg, self.pipeline is not None)
        if frame is None or self.pipeline is None:
            return
        image, order = frame
        try:
            result = self.pipeline.process(image, order)
        except BackendUnavailableError as exc:
            self.detect_unavailable(exc, self.pipeline.detector.link)
            return
        except ModelError as exc:
            self.report("inference_errors", f"inference failed: {exc}")
            return
        self.link_outcome("detector", self.pipeline.detector.link)
        if self.pipeline.classifier is not None:
            self.classify_outcome(result.classify_error, self.pipeline.classifier.link)
        self.stats.timings(result.timings)
        self.note_nonfinite("detector", self.pipeline.detector.nonfinite_frames)
        if self.pipeline.classifier is not None:
            self.note_nonfinite("classifier", self.pipeline.classifier.nonfinite)
        h, w = image.shape[:2]
        with self.stats.timed("publish"):
            safe_publish(self, self.det_pub, detections_msg(msg.header, result.hands, (w, h)))
            published = safe_publish(self, self.pub, gestures_msg(msg.header, result.hands))
        if published:
            self.stats.output(self.latency_ms(msg.header.stamp))
        for ev in event_msgs(msg.header, result.hands, result.changes):
            safe_publish(self, self.events, ev)
        if self.overlay.wanted:
            self.overlay.emit(draw(to_bgr(image, order), result.hands), msg.header)

    def close(self) -> None:
        self.overlay.close()


def main(args: list[str] | None = None) -> None:
    spin_node(GesturePipelineNode, args)


if __name__ == "__main__":
    main()

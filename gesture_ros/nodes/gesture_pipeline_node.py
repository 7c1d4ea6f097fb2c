"""gesture_pipeline: all stages fused in one process (no image re-publishing).

Image -> DetectionArray (with ROIs) + GestureArray + GestureEvent (+ annotated image), from the
same core objects and the same parameters as the separate nodes.
"""

from __future__ import annotations

from typing import Any

from gesture_ros_msgs.msg import DetectionArray, GestureArray, GestureEvent

from ..core.detectnet import ClusterConfig
from ..core.motion import MotionConfig
from ..core.overlay import draw, to_bgr
from ..core.pipeline import GesturePipeline
from ..core.roi import RoiConfig
from ..core.speed import IntervalConfig, ReuseConfig
from ..core.tracking import TrackingConfig
from ..settings import (
    CLASSIFIER_PARAMS,
    CLUSTERING,
    DEPTH,
    DEPTH_PARAMS,
    DETECTOR_PARAMS,
    INTERVAL,
    MOTION,
    OVERLAY_PARAMS,
    RECONNECT,
    REUSE,
    ROI,
    ROI_PARAMS,
    TRACKING,
    TRACKING_PARAMS,
)
from .base import RESULT_QOS, ManagedNode, spin_node
from .convert import detections_msg, event_msgs, gestures_msg, stamp_key
from .depth_input import DepthInput
from .stage_runner import StageRunner, safe_publish
from .stages import build_pipeline
from .video import OverlayOutput
from .vision import VisionOutput


class GesturePipelineNode(ManagedNode):
    def __init__(self) -> None:
        super().__init__(
            "gesture_pipeline",
            (
                "image_topic",
                "image_transport",
                "detections_topic",
                "gestures_topic",
                "events_topic",
                "vision_msgs_topic",
                "overlay_topic",
                "models_file",
                "classifier.enabled",
                *DETECTOR_PARAMS,
                *ROI_PARAMS,
                *CLASSIFIER_PARAMS,
                *TRACKING_PARAMS,
                *OVERLAY_PARAMS,
                *DEPTH_PARAMS,
            ),
            applies=lambda v: (
                CLUSTERING,
                ROI,
                TRACKING,
                INTERVAL,
                REUSE,
                MOTION,
                DEPTH,
                *((RECONNECT,) if self.remote("detector", "classifier")(v) else ()),
            ),
        )
        v = self.values
        self.det_pub = self.create_lifecycle_publisher(DetectionArray, v["detections_topic"], RESULT_QOS)
        self.pub = self.create_lifecycle_publisher(GestureArray, v["gestures_topic"], RESULT_QOS)
        self.events = self.create_lifecycle_publisher(GestureEvent, v["events_topic"], RESULT_QOS)
        self.overlay = OverlayOutput(self)
        self.vision = VisionOutput(self, RESULT_QOS)
        self.pipeline: GesturePipeline | None = None
        self.params.on_change(CLUSTERING, self._set_clustering)
        self.params.on_change(ROI, self._set_roi)
        self.params.on_change(TRACKING, self._set_tracking)
        self.params.on_change(INTERVAL, lambda interval: self._set("skipper", interval))
        self.params.on_change(REUSE, lambda reuse: self._set("memory", reuse))
        self.params.on_change(MOTION, lambda motion: self._set("motion", motion))
        self.depth = DepthInput(self, v, self.diag, self.params.get(DEPTH))
        self.params.on_change(DEPTH, lambda depth: setattr(self.depth, "config", depth))
        if RECONNECT.name in self.params.applies:
            self.params.on_change(RECONNECT, lambda wait: self.set_link_waits(wait, *self._links()))
        self.runner = StageRunner(self.diag, "detector", self.latency_ms)
        self.images = self.image_input()
        self.on_input = self.dispatcher(self._process, "triton" in (v["detector.backend"], v["classifier.backend"]))
        self.start()

    def load(self) -> None:
        self.pipeline = build_pipeline(self, self.models())

    def unload(self) -> None:
        self.pipeline = None

    def subscribe(self) -> None:
        self.depth.subscribe()  # depth first: it must be there when its colour frame is done
        super().subscribe()

    def unsubscribe(self) -> None:
        super().unsubscribe()
        self.depth.unsubscribe()

    def _links(self) -> list[Any]:
        p = self.pipeline
        return [] if p is None else [p.detector.link, p.classifier.link if p.classifier else None]

    def _set_clustering(self, clustering: ClusterConfig) -> None:
        if self.pipeline is not None:
            self.pipeline.detector.clustering = clustering

    def _set_roi(self, roi: RoiConfig) -> None:
        if self.pipeline is not None:
            self.pipeline.roi = roi

    def _set_tracking(self, tracking: TrackingConfig) -> None:
        if self.pipeline is not None and self.pipeline.tracking is not None:
            self.pipeline.tracking.configure(tracking)

    def _set(self, lever: str, config: IntervalConfig | ReuseConfig | MotionConfig) -> None:
        if self.pipeline is not None:
            getattr(self.pipeline, lever).config = config

    def _process(self, msg: Any) -> None:
        frame = self.images.accept(msg, self.pipeline is not None)
        if frame is None or self.pipeline is None:
            return
        image, order = frame
        pipeline = self.pipeline
        stamp = stamp_key(msg.header.stamp) / 1e9
        result = self.runner.run(lambda: pipeline.process(image, order, stamp), pipeline.detector.link)
        if result is None:
            return
        cls = pipeline.classifier
        self._count_levers()
        if cls is not None:
            self.diag.classify_outcome(result.classify_error, cls.link)
            self.runner.record(result.timings, detector=pipeline.detector.nonfinite_frames, classifier=cls.nonfinite)
        else:
            self.runner.record(result.timings, detector=pipeline.detector.nonfinite_frames)
        h, w = image.shape[:2]
        self.depth.locate(msg.header, result.hands, (w, h))
        self.runner.publish(
            msg.header.stamp,
            (self.det_pub, detections_msg(msg.header, result.hands, (w, h))),
            (self.pub, gestures_msg(msg.header, result.hands)),
            *self.vision.pairs(msg.header, result.hands),
        )
        for ev in event_msgs(msg.header, result.hands, result.changes, result.motions):
            safe_publish(self.diag, self.events, ev)
        if self.overlay.wanted:
            self.overlay.emit(draw(to_bgr(image, order), result.hands), msg.header)

    def _count_levers(self) -> None:
        """What the speed levers saved, on /diagnostics."""
        if self.pipeline is not None:
            stats, p = self.diag.stats, self.pipeline
            stats.set_counter("detector_runs", p.skipper.detected)
            stats.set_counter("carried_frames", p.skipper.carried)
            stats.set_counter("gestures_reused", p.memory.reused)

    def close(self) -> None:
        if self.pipeline is not None and (self.pipeline.skipper.carried or self.pipeline.memory.reused):
            p = self.pipeline
            frames = p.skipper.detected + p.skipper.carried
            self.get_logger().info(
                f"speed levers: the detector ran on {p.skipper.detected} of {frames} frames, "
                f"{p.memory.reused} gestures reused, {p.memory.classified} classified"
            )
        self.overlay.close()


def main(args: list[str] | None = None) -> None:
    spin_node(GesturePipelineNode, args)


if __name__ == "__main__":
    main()

"""gesture_pipeline: all stages fused in one process (no image re-publishing).

Image -> DetectionArray (with ROIs) + GestureArray + GestureEvent (+ annotated image), from the
same core objects and the same parameters as the separate nodes.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from .. import factory
from ..core.depth import DepthConfig
from ..core.detectnet import ClusterConfig
from ..core.motion import MotionConfig
from ..core.overlay import draw, to_bgr
from ..core.pipeline import GesturePipeline, detect_frames
from ..core.speed import IntervalConfig, ReuseConfig
from ..core.tracking import TrackingConfig
from ..settings import (
    CLASSIFIER_PARAMS,
    CLUSTERING,
    DEPTH,
    DEPTH_PARAMS,
    DETECTOR_PARAMS,
    IMAGE_INPUT_PARAMS,
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
from .cameras import CameraSet, CameraStream, namespaces
from .convert import detections_msg, event_msgs, gestures_msg, stamp_key
from .stage_runner import StageRunner, safe_publish
from .stages import build_pipeline
from .video import OverlayOutput


class GesturePipelineNode(ManagedNode):
    def __init__(self) -> None:
        super().__init__(
            "gesture_pipeline",
            (
                *IMAGE_INPUT_PARAMS,
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
                "multi_camera.namespaces",
                "multi_camera.batch_wait",
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
        self.streams = [
            CameraStream(self, ns, v, self.diag, self.params.get(DEPTH), RESULT_QOS)
            for ns in namespaces(str(v["multi_camera.namespaces"]))
        ]
        # the annotated image and video: the one camera's (not drawn for several)
        self.overlay = OverlayOutput(self) if len(self.streams) == 1 else None
        #: one pipeline per camera, all sharing one detector and one classifier
        self.pipelines: list[GesturePipeline] = []
        self.params.on_change(CLUSTERING, self._set_clustering)
        self.params.on_change(ROI, lambda roi: self._set_all("roi", roi))
        self.params.on_change(TRACKING, self._set_tracking)
        self.params.on_change(INTERVAL, lambda interval: self._set("skipper", interval))
        self.params.on_change(REUSE, lambda reuse: self._set("memory", reuse))
        self.params.on_change(MOTION, lambda motion: self._set("motion", motion))
        self.params.on_change(DEPTH, self._set_depth)
        if RECONNECT.name in self.params.applies:
            self.params.on_change(RECONNECT, lambda wait: self.set_link_waits(wait, *self._links()))
        self.runner = StageRunner(self.diag, "detector", self.latency_ms)
        remote = "triton" in (v["detector.backend"], v["classifier.backend"])
        self.cameras = CameraSet(
            self.streams, float(v["multi_camera.batch_wait"]), self.dispatcher(self._process, remote), self
        )
        self.start()

    @property
    def pipeline(self) -> GesturePipeline | None:
        """The first camera's pipeline (the only one with one camera)."""
        return self.pipelines[0] if self.pipelines else None

    def load(self) -> None:
        first = build_pipeline(self, self.models(), batch=len(self.streams))
        self.pipelines = [first, *(factory.camera_pipeline(first, self.values) for _ in self.streams[1:])]

    def unload(self) -> None:
        self.pipelines = []

    def subscribe(self) -> None:
        self.cameras.subscribe()

    def unsubscribe(self) -> None:
        self.cameras.unsubscribe()

    def _links(self) -> list[Any]:
        p = self.pipeline
        return [] if p is None else [p.detector.link, p.classifier.link if p.classifier else None]

    def _set_clustering(self, clustering: ClusterConfig) -> None:
        if self.pipeline is not None:
            self.pipeline.detector.clustering = clustering  # shared by every camera
        for p in self.pipelines:  # applies from the next frame, not from the next detector run
            p.skipper.restart()

    def _set_all(self, attr: str, value: Any) -> None:
        for p in self.pipelines:
            setattr(p, attr, value)

    def _set_tracking(self, tracking: TrackingConfig) -> None:
        for p in self.pipelines:
            if p.tracking is not None:
                p.tracking.configure(tracking)

    def _set(self, lever: str, config: IntervalConfig | ReuseConfig | MotionConfig) -> None:
        for p in self.pipelines:
            getattr(p, lever).config = config

    def _set_depth(self, depth: DepthConfig) -> None:
        for s in self.streams:
            s.depth.config = depth

    def _process(self, batch: list[tuple[CameraStream, Any]]) -> None:
        """The cameras' waiting frames: detected together, then each through its own pipeline."""
        pipelines = self.pipelines
        ready = [(s, msg, f) for s, msg in batch if (f := s.images.accept(msg, bool(pipelines))) is not None]
        if not ready or not pipelines:
            return
        mine = [pipelines[self.streams.index(s)] for s, _, _ in ready]
        frames = [f for _, _, f in ready]
        if len(ready) == 1:
            dets = None  # one frame: the pipeline's own path (same timings as before)
        else:
            dets = self.runner.run(lambda: detect_frames(mine, frames), mine[0].detector.link)
            if dets is None:
                return
        for i, (stream, msg, (image, order)) in enumerate(ready):
            pipeline = mine[i]
            stamp = stamp_key(msg.header.stamp) / 1e9
            work = partial(pipeline.process, image, order, stamp, None if dets is None else dets[i])
            result = self.runner.run(work, pipeline.detector.link)
            if result is not None:
                self._publish(stream, msg, image, order, pipeline, result)

    def _publish(
        self, stream: CameraStream, msg: Any, image: Any, order: Any, pipeline: GesturePipeline, result: Any
    ) -> None:
        cls = pipeline.classifier
        self._count_levers()
        if cls is not None:
            self.diag.classify_outcome(result.classify_error, cls.link)
            self.runner.record(result.timings, detector=pipeline.detector.nonfinite_frames, classifier=cls.nonfinite)
        else:
            self.runner.record(result.timings, detector=pipeline.detector.nonfinite_frames)
        h, w = image.shape[:2]
        stream.depth.locate(msg.header, result.hands, (w, h))
        self.runner.publish(
            msg.header.stamp,
            (stream.det_pub, detections_msg(msg.header, result.hands, (w, h))),
            (stream.pub, gestures_msg(msg.header, result.hands)),
            *stream.vision.pairs(msg.header, result.hands),
        )
        for ev in event_msgs(msg.header, result.hands, result.changes, result.motions):
            safe_publish(self.diag, stream.events, ev)
        if self.overlay is not None and self.overlay.wanted:
            self.overlay.emit(draw(to_bgr(image, order), result.hands), msg.header)

    def _count_levers(self) -> None:
        """What the speed levers saved (all cameras), on /diagnostics."""
        stats, ps = self.diag.stats, self.pipelines
        stats.set_counter("detector_runs", sum(p.skipper.detected for p in ps))
        stats.set_counter("carried_frames", sum(p.skipper.carried for p in ps))
        stats.set_counter("gestures_reused", sum(p.memory.reused for p in ps))

    def close(self) -> None:
        ps = self.pipelines
        if any(p.skipper.carried or p.memory.reused for p in ps):
            detected, carried = sum(p.skipper.detected for p in ps), sum(p.skipper.carried for p in ps)
            self.get_logger().info(
                f"speed levers: the detector ran on {detected} of {detected + carried} frames, "
                f"{sum(p.memory.reused for p in ps)} gestures reused, {sum(p.memory.classified for p in ps)} classified"
            )
        if self.overlay is not None:
            self.overlay.close()


def main(args: list[str] | None = None) -> None:
    spin_node(GesturePipelineNode, args)


if __name__ == "__main__":
    main()

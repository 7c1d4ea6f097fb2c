"""The stages as plain objects: detector, classifier, and the fused pipeline.

Every node (separate or fused) and the offline tools call these, so the separate-node graph,
the fused node and evaluation give the same numbers for the same frame.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from .classify import GestureResult, postprocess
from .detectnet import ClusterConfig, Detections, cluster, decode
from .errors import BackendUnavailableError, ModelError
from .image import Image, PixelOrder
from .inference import InferenceBackend, check_io
from .link import Link, remote_link
from .model_spec import ClassifierSpec, DetectorSpec
from .motion import MotionConfig, MotionDetector, MotionEvent
from .preprocess import Letterbox, Preprocessor
from .roi import RoiConfig, expand_rois, pixel_region
from .speed import FrameSkipper, GestureMemory, IntervalConfig, ReuseConfig, look
from .tracking import GestureChange, HandTracking


@dataclass
class Timings:
    """Milliseconds spent per stage for one frame."""

    pre: float = 0.0
    infer: float = 0.0
    post: float = 0.0
    classify: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The timings as the keys reports use (``pre_ms`` ...)."""
        return {"pre_ms": self.pre, "infer_ms": self.infer, "post_ms": self.post, "classify_ms": self.classify}


class HandDetector:
    """Pre-process -> backend -> DetectNet_v2 decode -> cluster -> map to frame pixels."""

    def __init__(
        self,
        spec: DetectorSpec,
        backend: InferenceBackend,
        clustering: ClusterConfig,
        reconnect_max: float = 5.0,
        fit_input: bool = True,
    ) -> None:
        """``fit_input``: run a frame narrower (or wider) than the input's aspect at the smallest
        input that holds it at the same scale, when the model takes any size (``size_multiple``)
        and its backend says so (ONNX Runtime; an engine or a server model of one size does not)."""
        self.spec = spec
        self.backend = backend
        self.clustering = clustering
        self.fit_input = fit_input
        #: whether the loaded model takes any multiple of ``size_multiple`` (set by the model check)
        self.any_size = False
        #: one pre-processor (input tensor bound once) per network input size in use
        self._pres: dict[tuple[int, int], Preprocessor] = {}
        self.pre = self._preprocessor((spec.input.width, spec.input.height))  # the model's full input
        self.nonfinite_frames = 0
        #: 1 for a model built for one frame at a time (one call per frame), 0 for a dynamic batch
        self.fixed_batch = 0
        #: a remote backend (Triton) that can go away and come back; None for a local one
        self.link: Link | None = remote_link(backend, self._check, reconnect_max)

    def _check(self) -> None:
        """The model's tensors must be what the description says (at start-up, and after every
        reconnection to a server, whose model may have changed)."""
        spec = self.spec
        gh, gw = spec.grid
        n = len(spec.labels)
        outputs: dict[str, tuple[int, ...]] = {spec.coverage_output: (n, gh, gw), spec.bbox_output: (4 * n, gh, gw)}
        check_io(self.backend, spec.file, spec.input.name, (3, spec.input.height, spec.input.width), outputs)
        dims = next((t.shape for t in self.backend.inputs if t.name == spec.input.name), ())
        batch_dim = dims[0] if dims else -1
        self.fixed_batch = batch_dim if batch_dim > 0 else 0
        self.any_size = spec.size_multiple > 0 and len(dims) == 4 and dims[2] < 0 and dims[3] < 0

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The network input (width, height) for a ``width`` x ``height`` frame: the model's own,
        or with ``fit_input`` the smallest multiple of ``size_multiple`` per side that holds the
        frame at the scale the full input letterboxes it to. The same pixels reach the network,
        without the padding (a 4:3 frame in a 16:9 input: 0.75 of the work)."""
        w_in, h_in = self.spec.input.width, self.spec.input.height
        m = self.spec.size_multiple
        if not (self.fit_input and self.any_size) or self.spec.input.pad == "stretch":
            return w_in, h_in
        s = min(w_in / width, h_in / height)
        return min(w_in, -(-round(width * s) // m) * m), min(h_in, -(-round(height * s) // m) * m)

    def preprocessor(self, width: int, height: int) -> Preprocessor:
        """The pre-processor (and its bound input tensor) that a ``width`` x ``height`` frame uses."""
        return self._preprocessor(self.input_size(width, height))

    def _preprocessor(self, size: tuple[int, int]) -> Preprocessor:
        pre = self._pres.get(size)
        if pre is None:
            spec = replace(self.spec.input, width=size[0], height=size[1])
            pre = self._pres[size] = Preprocessor(spec, max_batch=1)
        return pre

    def warm_up(self, batch: int = 1) -> None:
        """One inference on a blank frame (and one on ``batch`` of them, for a node serving several
        cameras), so the first real frame does not pay the runtime's first run (memory planning,
        kernel selection) while frames queue up. Local backends only."""
        if self.link is None:
            blank = np.zeros((self.spec.input.height, self.spec.input.width, 3), np.uint8)
            for n in sorted({1, batch}):
                self.detect_batch([(blank, "bgr")] * n)
            self.nonfinite_frames = 0

    def detect(self, image: Image, order: PixelOrder, timings: Timings | None = None) -> Detections:
        """The hands in one frame, in its pixels.

        With a remote backend that is down, raises :class:`BackendUnavailableError` at once
        (nothing is sent; asking starts the due reconnection attempt) and after a failed
        request (the link goes down), so a node reports it and goes on with the next frame.
        """
        return self.detect_batch([(image, order)], [timings] if timings is not None else None)[0]

    def detect_batch(
        self, frames: Sequence[tuple[Image, PixelOrder]], timings: Sequence[Timings] | None = None
    ) -> list[Detections]:
        """The hands in each of several frames (several cameras' newest), in one backend call per
        input size (frames of one size batch together; one call per frame for a model with a
        fixed batch of 1), so a frame finds what it finds alone; each frame's ``timings`` get an
        equal share."""
        link = self.link
        if link is not None and not link.ready():
            raise BackendUnavailableError(f"detector backend down, reconnecting ({link.last_error})")
        n = len(frames)
        if n == 0:
            return []
        sizes = [self.input_size(image.shape[1], image.shape[0]) for image, _ in frames]
        results: list[Detections] = [Detections.empty() for _ in frames]
        spent = np.zeros(3)  # seconds of pre-processing, inference, decoding
        for size in dict.fromkeys(sizes):  # each input size once, in the frames' order
            idx = [i for i, s in enumerate(sizes) if s == size]
            found, took = self._detect_same_size([frames[i] for i in idx], size)
            spent += took
            for i, dets in zip(idx, found, strict=True):
                results[i] = dets
        for t in timings or []:
            t.pre += spent[0] * 1e3 / n
            t.infer += spent[1] * 1e3 / n
            t.post += spent[2] * 1e3 / n
        return results

    def _detect_same_size(
        self, frames: Sequence[tuple[Image, PixelOrder]], size: tuple[int, int]
    ) -> tuple[list[Detections], tuple[float, float, float]]:
        """Frames that share the network input ``size``: one batch (or one call per frame), and
        the seconds spent pre-processing, inferring and decoding."""
        n = len(frames)
        t0 = time.perf_counter()
        pre = self._preprocessor(size)
        pre.ensure_batch(n)
        boxes = [pre.fill(i, image, order) for i, (image, order) in enumerate(frames)]
        t1 = time.perf_counter()
        name = self.spec.input.name
        try:
            if self.fixed_batch and n > 1:  # a model built for one frame: one call per frame
                outs = [self.backend.infer({name: pre.batch(n)[i : i + 1]}) for i in range(n)]
                cov_all = np.concatenate([o[self.spec.coverage_output] for o in outs])
                bbox_all = np.concatenate([o[self.spec.bbox_output] for o in outs])
            else:
                out = self.backend.infer({name: pre.batch(n)})
                cov_all, bbox_all = out[self.spec.coverage_output], out[self.spec.bbox_output]
        except BackendUnavailableError as exc:
            if self.link is not None:
                self.link.fault(str(exc))
            raise
        t2 = time.perf_counter()
        results = [self._decode(cov_all[i], bbox_all[i], boxes[i], size) for i in range(n)]
        return results, (t1 - t0, t2 - t1, time.perf_counter() - t2)

    def _decode(
        self, cov: npt.NDArray[np.float32], bbox: npt.NDArray[np.float32], lb: Letterbox, size: tuple[int, int]
    ) -> Detections:
        """One frame's grid outputs (from a ``size`` input) -> clustered boxes in its pixels."""
        if not (np.isfinite(cov).all() and np.isfinite(bbox).all()):
            self.nonfinite_frames += 1
        cands = decode(
            cov,
            bbox,
            threshold=self.clustering.coverage_threshold,
            stride=self.spec.stride,
            bbox_scale=self.spec.bbox_scale,
            offset=self.spec.offset,
            input_size=size,
        )
        dets = cluster(cands, self.clustering)
        dets.boxes = lb.to_source(dets.boxes)
        keep = (dets.boxes[:, 2] > dets.boxes[:, 0]) & (dets.boxes[:, 3] > dets.boxes[:, 1])
        if not keep.all():
            dets = Detections(dets.boxes[keep], dets.scores[keep], dets.class_ids[keep])
        return dets


class GestureClassifier:
    """Crops ROIs from the frame into one batch and classifies them in one backend call."""

    def __init__(
        self, spec: ClassifierSpec, backend: InferenceBackend, max_batch: int = 8, reconnect_max: float = 5.0
    ) -> None:
        self.spec = spec
        self.backend = backend
        self.pre = Preprocessor(spec.input, max_batch=max_batch)
        self.nonfinite = 0
        #: crops the model classified (a benchmark replays the same batches with the model alone)
        self.crops = 0
        self.fixed_batch = 0
        #: a remote backend (Triton) that can go away and come back
        #: (the model is checked again after every reconnection: the server's model may have changed)
        self.link: Link | None = remote_link(backend, self._check, reconnect_max)

    def _check(self) -> None:
        """The model's tensors must be what the description says (at start-up, and after every
        reconnection to a server, whose model may have changed)."""
        spec = self.spec
        check_io(
            self.backend,
            spec.file,
            spec.input.name,
            (3, spec.input.height, spec.input.width),
            {spec.output: (len(spec.labels),)},
        )
        batch_dim = next(t.shape[0] for t in self.backend.inputs if t.name == spec.input.name)
        self.fixed_batch = batch_dim if batch_dim > 0 else 0

    def warm_up(self) -> None:
        """One classification of a blank crop (see :meth:`HandDetector.warm_up`). Local backends only."""
        if self.link is None:
            side = self.spec.input.height
            self.classify(np.zeros((side, side, 3), np.uint8), "bgr", np.array([[0, 0, side, side]], np.float32))
            self.nonfinite = 0

    def classify(self, image: Image, order: PixelOrder, rois: npt.NDArray[np.float32]) -> list[GestureResult | None]:
        """One result per ROI (None where the model's output was not finite), one backend call
        (one per crop for a fixed-batch model)."""
        n = int(rois.shape[0])
        if n == 0:
            return []
        self.pre.ensure_batch(n)
        for i in range(n):
            self.pre.fill(i, image, order, pixel_region(rois[i]))
        if self.fixed_batch:
            probs = np.concatenate(
                [
                    self.backend.infer({self.spec.input.name: self.pre.batch(n)[i : i + 1]})[self.spec.output]
                    for i in range(n)
                ]
            )
        else:
            probs = self.backend.infer({self.spec.input.name: self.pre.batch(n)})[self.spec.output]
        self.crops += n
        results = postprocess(probs, self.spec.labels, self.spec.output_is_probability)
        self.nonfinite += sum(r is None for r in results)
        return results


@dataclass
class Hand:
    """One hand in one frame: detector output, ROI, gesture and track."""

    box: npt.NDArray[np.float32]
    score: float
    class_id: int
    label: str
    roi: npt.NDArray[np.float32]
    roi_valid: bool
    gesture: GestureResult | None = None
    track_id: int = -1
    #: (x, y, z) metres in the image's optical frame, from an aligned depth image (:mod:`.depth`)
    position: tuple[float, float, float] | None = None


@dataclass
class FrameResult:
    """What one frame produced: its hands, the gesture changes it confirmed, the stage timings."""

    hands: list[Hand]
    changes: list[GestureChange] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    classify_error: str | None = None  # why gestures are missing (a remote backend that is down)
    motions: list[MotionEvent] = field(default_factory=list)  # swipes and waves completed on this frame


def build_hands(
    dets: Detections, labels: tuple[str, ...], frame_w: int, frame_h: int, roi_cfg: RoiConfig | None
) -> list[Hand]:
    """Hands from clustered detections, with ROIs when ``roi_cfg`` is given."""
    n = len(dets)
    if roi_cfg is None:
        rois, valid = np.zeros((n, 4), np.float32), np.zeros(n, dtype=bool)
    else:
        rois, valid = expand_rois(dets.boxes, frame_w, frame_h, roi_cfg)
    return [
        Hand(
            dets.boxes[i],
            float(dets.scores[i]),
            int(dets.class_ids[i]),
            labels[int(dets.class_ids[i])],
            rois[i],
            bool(valid[i]),
        )
        for i in range(n)
    ]


def attach_rois(hands: list[Hand], frame_w: int, frame_h: int, roi_cfg: RoiConfig) -> None:
    """Compute ROIs in place for hands that arrived without one (all-zero ROI)."""
    todo = [h for h in hands if not h.roi_valid and not np.any(h.roi)]
    if not todo:
        return
    rois, valid = expand_rois(np.stack([h.box for h in todo]), frame_w, frame_h, roi_cfg)
    for h, r, ok in zip(todo, rois, valid, strict=True):
        h.roi, h.roi_valid = r, bool(ok)


def classify_hands(
    classifier: GestureClassifier, image: Image, order: PixelOrder, hands: list[Hand], timings: Timings | None = None
) -> str | None:
    """Fill ``hand.gesture`` for every hand with a valid ROI (one batched backend call).

    Returns None, or why the hands stay unclassified: a remote backend that is down (nothing is
    sent until it reconnects; the hands keep ``gesture=None``, published as unavailable).
    """
    t0 = time.perf_counter()
    idx = [i for i, h in enumerate(hands) if h.roi_valid and h.gesture is None]  # not those given a gesture already
    error = None
    link = classifier.link
    # asked on every frame, hands or not: while down, this starts the reconnection attempts, so
    # a server that came back while nobody was in view is up again before the next hand
    ready = link.ready() if link is not None else True
    if idx and link is not None and not ready:
        error = f"classifier backend down, reconnecting ({link.last_error})"
    elif idx:
        try:
            results = classifier.classify(image, order, np.stack([hands[i].roi for i in idx]))
        except BackendUnavailableError as exc:
            if link is not None:
                link.fault(str(exc))
            error = str(exc)
        else:
            for i, r in zip(idx, results, strict=True):
                hands[i].gesture = r
    if timings is not None:
        timings.classify += (time.perf_counter() - t0) * 1e3
    return error


class GesturePipeline:
    """All stages in one call: the fused node and offline evaluation use this."""

    def __init__(
        self,
        detector: HandDetector,
        classifier: GestureClassifier | None,
        roi: RoiConfig,
        tracking: HandTracking | None = None,
        interval: IntervalConfig | None = None,
        reuse: ReuseConfig | None = None,
        motion: MotionConfig | None = None,
    ) -> None:
        if classifier is None and tracking is not None and tracking.events:
            raise ModelError("gesture events need a classifier")
        self.detector = detector
        self.classifier = classifier
        self.roi = roi
        self.tracking = tracking
        #: detector.interval: boxes carried between detector runs (:mod:`.speed`)
        self.skipper = FrameSkipper(interval or IntervalConfig())
        #: classifier.reuse_*: a track's gesture reused while its box stays
        self.memory = GestureMemory(reuse or ReuseConfig())
        #: motion.*: swipes and waves of the tracked hands (needs ``stamp`` in :meth:`process`)
        self.motion = MotionDetector(motion)

    def process(
        self, image: Image, order: PixelOrder, stamp: float | None = None, dets: Detections | None = None
    ) -> FrameResult:
        """Detect (or carry the boxes, see :mod:`.speed`), expand ROIs, track, classify (or reuse
        a track's gesture), debounce: one frame through every stage. ``stamp`` (seconds, the
        image's) times the tracks for motion gestures. ``dets``: the frame's detections when they
        were made already (several cameras' frames detected in one call, :func:`detect_frames`)."""
        timings = Timings()
        if dets is None:
            dets = self.skipper.carry(image, order)
            if dets is None:
                dets = self.detector.detect(image, order, timings)
                self.skipper.detections(image, order, dets)
        h, w = image.shape[:2]
        hands = build_hands(dets, self.detector.spec.labels, w, h, self.roi)
        ended = assign_tracks(hands, self.tracking)
        error = None
        if self.classifier is not None:
            error = classify_or_reuse(self.classifier, self.memory, image, order, hands, timings)
        result = FrameResult(hands, timings=timings, classify_error=error)
        result.changes = debounce(hands, self.tracking, ended)
        if stamp is not None:
            result.motions = detect_motion(hands, self.motion, stamp, (w, h))
        return result


def detect_frames(pipelines: Sequence[GesturePipeline], frames: Sequence[tuple[Image, PixelOrder]]) -> list[Detections]:
    """Each camera's detections for its frame (``pipelines[i]`` is camera i's, all sharing one
    detector): carried by a camera's own frame skipper where its interval says so, and the rest
    detected in one batched call."""
    dets: list[Detections | None] = [
        p.skipper.carry(img, order) for p, (img, order) in zip(pipelines, frames, strict=True)
    ]
    todo = [i for i, d in enumerate(dets) if d is None]
    if todo:
        found = pipelines[todo[0]].detector.detect_batch([frames[i] for i in todo])
        for i, d in zip(todo, found, strict=True):
            pipelines[i].skipper.detections(*frames[i], d)
            dets[i] = d
    return [d for d in dets if d is not None]


def classify_or_reuse(
    classifier: GestureClassifier,
    memory: GestureMemory,
    image: Image,
    order: PixelOrder,
    hands: list[Hand],
    timings: Timings | None = None,
) -> str | None:
    """:func:`classify_hands` for the hands whose track may not reuse its gesture (after
    :func:`assign_tracks`); the new results are remembered for the next frames."""
    ids, boxes = [x.track_id for x in hands], [x.box for x in hands]
    on = memory.config.frames > 0 and memory.config.change > 0
    looks = [look(image, x.roi) if on and x.roi_valid and x.track_id >= 0 else None for x in hands]
    for hand, g in zip(hands, memory.reuse(ids, boxes, looks), strict=True):
        hand.gesture = g if hand.roi_valid else None
    reused = [x.gesture is not None for x in hands]
    error = classify_hands(classifier, image, order, hands, timings)
    memory.remember(ids, boxes, [None if r else x.gesture for x, r in zip(hands, reused, strict=True)], looks)
    return error


def assign_tracks(hands: list[Hand], tracking: HandTracking | None) -> list[int]:
    """Give each hand its track id in place; the ids of tracks that ended on this frame."""
    tracker = tracking.tracker if tracking is not None else None
    if tracker is None:
        return []
    ids, ended = tracker.update(np.stack([h.box for h in hands]) if hands else np.zeros((0, 4), np.float32))
    for hand, tid in zip(hands, ids, strict=True):
        hand.track_id = int(tid)
    return ended


def detect_motion(
    hands: list[Hand], motion: MotionDetector, stamp: float, size: tuple[int, int] | None
) -> list[MotionEvent]:
    """The motion gestures the tracked hands completed on this frame (after :func:`assign_tracks`)."""
    return motion.update(stamp, {h.track_id: h.box for h in hands if h.track_id >= 0}, size)


def debounce(hands: list[Hand], tracking: HandTracking | None, ended: list[int]) -> list[GestureChange]:
    """The debounced gesture changes of the tracked hands (after :func:`assign_tracks`)."""
    debouncer = tracking.debouncer if tracking is not None and tracking.tracker is not None else None
    if debouncer is None:
        return []
    tracked = [(h.track_id, h.gesture.label) for h in hands if h.gesture is not None]
    return debouncer.update([t for t, _ in tracked], [lbl for _, lbl in tracked], ended)

"""Train the DetectNet_v2-style hand detector on KITTI-labelled images."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from gesture_ros.core.detectnet import ClusterConfig
from gesture_ros.core.model_spec import DetectorSpec
from gesture_ros.core.preprocess import Preprocessor, plan_letterbox, resize_filter

from ..datasets import (
    DetSample,
    across_scenes,
    load_detection_set,
    load_gesture_frames_for_detection,
    select_samples,
    select_validation,
    split_by_scene,
)
from ..model_eval import evaluate_detector
from .augment import BLUR_MAX_KERNEL, blur, colour_jitter, flip_boxes
from .experiment import Experiment, RunOptions
from .export import export_detector
from .loop import EmaWeights, fit, load_checkpoint, load_matching, make_runtime, with_state
from .models import DetectNetV2, build_model
from .palm_trunk import TrunkOptions, freeze_if_palm, palm_cut, read_palm_graph, resolve_palm_tflite
from .qat import calibrate, quant_convs, quantize
from .targets import rasterise


@dataclass
class DetectorTrainConfig(RunOptions, TrunkOptions):
    data: str = "../shared/data/hands_detect"
    out: str = "runs/detector"
    val_scenes: list[str] = field(default_factory=list)
    #: scene-name prefix -> fraction of those scenes (whole people or videos, chosen by hash over
    #: the detection set and ``extra_data``) that validate too: ``{"hagrid_": 0.25}``
    val_fraction_of: dict[str, float] = field(default_factory=dict)
    depth: int = 18
    width: float = 0.375
    epochs: int = 30
    batch: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    cov_radius: float = 0.5
    bbox_weight: float = 0.5
    #: weight of the 1 - GIoU term on the boxes (``giou_of_distances``; 0: L1 only, as before)
    giou_weight: float = 0.0
    fg_weight: float = 4.0
    seed: int = 0
    max_source_width: int = 1024
    #: only images of these scenes, or whose file names start with these prefixes (``egohands__``);
    #: empty = all (the validation scenes must be among them)
    scenes: list[str] = field(default_factory=list)
    #: at most N images of each scene, spread evenly over its frames (0 = all): short runs
    limit: int = 0
    #: start from this checkpoint's weights (a detector.pt); layers whose shapes differ (a head
    #: for other classes) keep their fresh initialisation; a pruned checkpoint is retrained as is
    init_from: str = ""
    #: more training data laid out like ../shared/data (full-frame gesture images with boxes in
    #: gestures_labels/, used as hands); images of validation scenes are left out
    extra_data: list[str] = field(default_factory=list)
    #: quantisation-aware retraining of the ``init_from`` model: fold BN, calibrate input ranges
    #: on ``calibration_images`` training images, retrain with fake int8, export Q/DQ ONNX
    qat: bool = False
    calibration_images: int = 32
    #: probability that a training image is a 2x2 mosaic of four (DetectorData.mosaic_of)
    mosaic: float = 0.0
    #: probability of motion blur / defocus on a training image (augment.blur)
    blur: float = 0.0
    #: a non-mosaic training image is, with probability ``zoom_out_p``, shrunk by a factor of 1 to
    #: ``zoom_out`` onto another training image (DetectorData.zoomed_out): small, distant hands
    zoom_out: float = 1.6
    zoom_out_p: float = 0.3
    #: the largest blur kernel, as a fraction of the network input width (0.015: 7 px at 512)
    blur_kernel: float = BLUR_MAX_KERNEL
    #: draw training images whose file name starts with a key this many times per epoch
    #: (``{"egohands__": 3}``): a dataset's weight in the mixture without copying its frames
    repeat: dict[str, int] = field(default_factory=dict)


def clip_to_region(
    boxes: np.ndarray, cls: np.ndarray, region: tuple[int, int, int, int], min_visible: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to a crop; a hand with less than ``min_visible`` of its area inside is dropped
    (a sliver of a wrist is not a hand to find)."""
    if not len(boxes):
        return boxes, cls
    x0, y0, x1, y1 = region
    clipped = boxes.copy()
    np.clip(clipped[:, 0::2], x0, x1, out=clipped[:, 0::2])
    np.clip(clipped[:, 1::2], y0, y1, out=clipped[:, 1::2])
    area = lambda b: np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # noqa: E731
    keep = area(clipped) >= min_visible * np.maximum(area(boxes), 1e-6)
    return clipped[keep], cls[keep]


def visible_part(
    boxes: np.ndarray, cls: np.ndarray, cover: tuple[int, int, int, int], min_visible: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes partly hidden behind the rectangle ``cover``, cut to their largest part beside it
    (left, right, above or below); a hand with less than ``min_visible`` of its area in that part
    is dropped, as ``clip_to_region`` drops one cut by a crop."""
    if not len(boxes):
        return boxes, cls
    cx1, cy1, cx2, cy2 = cover
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    hidden = (x1 < cx2) & (x2 > cx1) & (y1 < cy2) & (y2 > cy1)
    parts = np.stack(
        [
            np.stack([x1, y1, np.minimum(x2, cx1), y2], 1),
            np.stack([np.maximum(x1, cx2), y1, x2, y2], 1),
            np.stack([x1, y1, x2, np.minimum(y2, cy1)], 1),
            np.stack([x1, np.maximum(y1, cy2), x2, y2], 1),
        ],
        1,
    )  # (N, 4 sides, 4)
    areas = np.clip(parts[..., 2] - parts[..., 0], 0, None) * np.clip(parts[..., 3] - parts[..., 1], 0, None)
    best = areas.argmax(1)
    cut = np.where(hidden[:, None], parts[np.arange(len(boxes)), best], boxes)
    full = np.maximum((x2 - x1) * (y2 - y1), 1e-6)
    keep = ~hidden | (areas.max(1) >= min_visible * full)
    return cut[keep].astype(np.float32), cls[keep]


class DetectorData:
    """Decoded, down-sized frames in memory plus the augmentation that feeds the runtime
    pre-processor (so training tensors are exactly what the node computes)."""

    def __init__(
        self,
        samples: list[DetSample],
        spec: DetectorSpec,
        labels: tuple[str, ...],
        max_w: int,
        mosaic: float = 0.0,
        blur: float = 0.0,
        blur_kernel: float = BLUR_MAX_KERNEL,
        zoom_out: float = 1.6,
        zoom_out_p: float = 0.3,
    ) -> None:
        self.spec = spec
        self.zoom_out, self.zoom_out_p = zoom_out, zoom_out_p
        self.labels = labels
        self.scenes = [s.scene for s in samples]
        self.mosaic = mosaic
        self.blur = blur
        self.blur_kernel = blur_kernel
        self.images, self.boxes, self.classes = [], [], []
        for s in samples:
            img = cv2.imread(str(s.image), cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f"cannot read {s.image}")
            k = min(1.0, max_w / img.shape[1])
            if k < 1.0:
                img = cv2.resize(img, (round(img.shape[1] * k), round(img.shape[0] * k)), interpolation=cv2.INTER_AREA)
            self.images.append(img)
            self.boxes.append(s.boxes * k)
            self.classes.append(np.array([labels.index(n) if n in labels else 0 for n in s.labels], np.int64))
        self.pre = Preprocessor(spec.input, max_batch=1)

    def __len__(self) -> int:
        return len(self.images)

    def mosaic_of(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Four training images in a 2x2 mosaic with a random split point (YOLOv4's mosaic).

        Each quadrant shows a random window (40-90 % of the largest window of its aspect) of one
        image: more hands, scenes and scales per step, which is what a from-scratch detector on a
        few hundred images lacks. The canvas has the network's aspect at twice its size.
        """
        cw, ch = 2 * self.spec.input.width, 2 * self.spec.input.height
        sx, sy = int(cw * rng.uniform(0.3, 0.7)), int(ch * rng.uniform(0.3, 0.7))
        canvas = np.empty((ch, cw, 3), np.uint8)
        all_boxes, all_cls = [], []
        picks = [i, *(int(j) for j in rng.integers(0, len(self), 3))]
        for j, (x0, y0, x1, y1) in zip(
            picks, [(0, 0, sx, sy), (sx, 0, cw, sy), (0, sy, sx, ch), (sx, sy, cw, ch)], strict=True
        ):
            img, tw, th = self.images[j], x1 - x0, y1 - y0
            h, w = img.shape[:2]
            f = min(w / tw, h / th) * rng.uniform(0.4, 0.9)  # source pixels per tile pixel
            ww, wh = min(w, round(tw * f)), min(h, round(th * f))
            wx, wy = int(rng.integers(0, w - ww + 1)), int(rng.integers(0, h - wh + 1))
            window = img[wy : wy + wh, wx : wx + ww]
            canvas[y0:y1, x0:x1] = cv2.resize(
                window, (tw, th), interpolation=cv2.INTER_AREA if f > 1 else cv2.INTER_LINEAR
            )
            k = np.array([tw / ww, th / wh, tw / ww, th / wh], np.float32)
            b = (self.boxes[j] - np.array([wx, wy, wx, wy], np.float32)) * k + np.array([x0, y0, x0, y0], np.float32)
            # a quarter of a hand is still a hand to find (EgoHands labels hands cut by the frame)
            b, c = clip_to_region(b.astype(np.float32), self.classes[j], (x0, y0, x1, y1), min_visible=0.25)
            all_boxes.append(b)
            all_cls.append(c)
        return canvas, np.concatenate(all_boxes).reshape(-1, 4), np.concatenate(all_cls)

    def zoomed_out(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``i`` shrunk by 1 to ``zoom_out`` onto another training image as the canvas.

        A person a few metres from a robot shows hands a few cells of the output grid wide; the
        data has few of them. Shrinking a real frame makes such hands out of real ones, and a
        real frame around it (not a black border) keeps the scene statistics the network will
        see: its hands stay hands where the pasted frame leaves enough of them (``visible_part``).
        """
        img, boxes, cls = self.images[i], self.boxes[i], self.classes[i]
        h, w = img.shape[:2]
        f = rng.uniform(1.0, self.zoom_out)
        # the canvas at most twice the network input: the runtime's resize comes after this
        k = min(1.0, 2 * self.spec.input.width / (w * f), 2 * self.spec.input.height / (h * f))
        cw, ch, pw, ph = round(w * f * k), round(h * f * k), max(1, round(w * k)), max(1, round(h * k))
        small = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA)
        inner = boxes * np.array([pw / w, ph / h] * 2, np.float32)
        # up to four canvases at four places each: the first that hides none of its own hands
        # whole (a hand cut into a U around the pasted frame is neither a clean positive nor a
        # negative); failing that, a plain canvas of the frame's mean colour
        for _ in range(4):
            canvas, outer, outer_cls = self.canvas_of(int(rng.integers(0, len(self))), cw, ch)
            for _ in range(4):
                px, py = int(rng.integers(0, cw - pw + 1)), int(rng.integers(0, ch - ph + 1))
                kept, kept_cls = visible_part(outer, outer_cls, (px, py, px + pw, py + ph))
                if len(kept) == len(outer):
                    break
            if len(kept) == len(outer):
                break
        else:
            canvas = np.empty((ch, cw, 3), np.uint8)
            canvas[:] = img.reshape(-1, 3).mean(0).astype(np.uint8)
            kept, kept_cls = outer[:0], outer_cls[:0]
        canvas[py : py + ph, px : px + pw] = small
        inner += np.array([px, py, px, py], np.float32)
        return (
            canvas,
            np.concatenate([inner, kept]).astype(np.float32).reshape(-1, 4),
            np.concatenate([cls, kept_cls]),
        )

    def canvas_of(self, j: int, cw: int, ch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image ``j`` scaled to cover ``cw`` x ``ch`` and centre-cropped, with its boxes."""
        back = self.images[j]
        bh, bw = back.shape[:2]
        s = max(cw / bw, ch / bh)
        bx, by = (bw * s - cw) / 2, (bh * s - ch) / 2
        canvas = cv2.resize(back, (max(cw, round(bw * s)), max(ch, round(bh * s))), interpolation=cv2.INTER_AREA)
        canvas = np.ascontiguousarray(canvas[round(by) : round(by) + ch, round(bx) : round(bx) + cw])
        boxes = (self.boxes[j] * s - np.array([bx, by, bx, by], np.float32)).astype(np.float32)
        return (canvas, *clip_to_region(boxes, self.classes[j], (0, 0, cw, ch)))

    def item(
        self, i: int, rng: np.random.Generator | None, cov_radius: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        img, boxes, cls = self.images[i], self.boxes[i].copy(), self.classes[i]
        h, w = img.shape[:2]
        region = (0, 0, w, h)
        if rng is not None:
            if self.mosaic > 0 and rng.random() < self.mosaic:
                img, boxes, cls = self.mosaic_of(i, rng)
                h, w = img.shape[:2]
                region = (0, 0, w, h)
            elif rng.random() < self.zoom_out_p:  # zoom out: hands smaller than in the data
                img, boxes, cls = self.zoomed_out(i, rng)
                h, w = img.shape[:2]
                region = (0, 0, w, h)
            elif rng.random() < 0.6:  # zoom in: a random window
                s = rng.uniform(0.55, 1.0)
                cw, ch = int(w * s), int(h * s)
                x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
                region = (x0, y0, x0 + cw, y0 + ch)
            if rng.random() < 0.5:
                img = img[:, ::-1]
                boxes = flip_boxes(boxes, w)
                region = (w - region[2], region[1], w - region[0], region[3])
        # scale the region to the network input first: the pixel-wise augmentations then cost a
        # quarter of what they cost on the source (the resize is the one the runtime would do)
        boxes, cls = clip_to_region(boxes, cls, region)
        x0, y0, x1, y1 = region
        src = img[y0:y1, x0:x1]
        _, new_w, new_h, _, _ = plan_letterbox(x1 - x0, y1 - y0, self.spec.input)
        if (new_w, new_h) != (x1 - x0, y1 - y0):
            src = cv2.resize(src, (new_w, new_h), interpolation=resize_filter(self.spec.input, x1 - x0, new_w))
        boxes = (boxes - np.array([x0, y0, x0, y0], np.float32)) * np.array(
            [new_w / (x1 - x0), new_h / (y1 - y0)] * 2, np.float32
        )
        if rng is not None:
            src = np.ascontiguousarray(src)
            if self.blur > 0 and rng.random() < self.blur:
                src = blur(src, rng, self.blur_kernel)
            src = colour_jitter(src, rng)
        lb = self.pre.fill(0, src, "bgr")
        net = boxes.copy()
        net[:, 0::2] = (boxes[:, 0::2] - lb.origin_x) * lb.scale_x + lb.pad_x
        net[:, 1::2] = (boxes[:, 1::2] - lb.origin_y) * lb.scale_y + lb.pad_y
        cov, bbox = rasterise(
            net,
            cls,
            len(self.labels),
            self.spec.grid,
            stride=self.spec.stride,
            bbox_scale=self.spec.bbox_scale,
            offset=self.spec.offset,
            cov_radius=cov_radius,
        )
        return self.pre.tensor[0].copy(), cov, bbox


def giou_of_distances(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of boxes given, per cell, as distances from the cell centre to the left,
    top, right and bottom edges ([N, 4C, H, W] -> [N, C, H, W]; FCOS's form, any common scale).

    IoU is relative: a 10 px error costs a 30 px hand what a 100 px error costs a 300 px one,
    where an L1 on distances charges both alike and so leaves small, distant hands loose. GIoU
    keeps a gradient when the boxes do not overlap.
    """
    n, c4, h, w = pred.shape
    p, t = pred.reshape(n, c4 // 4, 4, h, w), target.reshape(n, c4 // 4, 4, h, w)
    pw, ph = (p[:, :, 0] + p[:, :, 2]).clamp(min=0), (p[:, :, 1] + p[:, :, 3]).clamp(min=0)
    tw, th = t[:, :, 0] + t[:, :, 2], t[:, :, 1] + t[:, :, 3]
    iw = (torch.minimum(p[:, :, 0], t[:, :, 0]) + torch.minimum(p[:, :, 2], t[:, :, 2])).clamp(min=0)
    ih = (torch.minimum(p[:, :, 1], t[:, :, 1]) + torch.minimum(p[:, :, 3], t[:, :, 3])).clamp(min=0)
    inter = iw * ih
    union = (pw * ph + tw * th - inter).clamp(min=1e-6)
    cw = torch.maximum(p[:, :, 0], t[:, :, 0]) + torch.maximum(p[:, :, 2], t[:, :, 2])
    ch = torch.maximum(p[:, :, 1], t[:, :, 1]) + torch.maximum(p[:, :, 3], t[:, :, 3])
    enclosing = (cw * ch).clamp(min=1e-6)
    return inter / union - (enclosing - union) / enclosing


def detector_loss(
    pred_cov: torch.Tensor, pred_bbox: torch.Tensor, cov: torch.Tensor, bbox: torch.Tensor, cfg: DetectorTrainConfig
) -> torch.Tensor:
    """Weighted coverage BCE + coverage-masked L1 on the box distances (+ ``giou_weight`` x the
    coverage-masked 1 - GIoU of the same boxes).

    The BCE is written out (not ``F.binary_cross_entropy``) and computed in float32 so it is
    safe under autocast.
    """
    p = pred_cov.float().clamp(1e-6, 1 - 1e-6)
    weight = 1.0 + cfg.fg_weight * cov
    l_cov = -(weight * (cov * torch.log(p) + (1 - cov) * torch.log(1 - p))).mean()
    mask = cov.repeat_interleave(4, dim=1)
    l_box = (torch.abs(pred_bbox.float() - bbox) * mask).sum() / mask.sum().clamp(min=1.0)
    loss = l_cov + cfg.bbox_weight * l_box
    if cfg.giou_weight > 0:
        giou = giou_of_distances(pred_bbox.float(), bbox)
        loss = loss + cfg.giou_weight * ((1 - giou) * cov).sum() / cov.sum().clamp(min=1.0)
    return loss


def initial_model(cfg: DetectorTrainConfig, num_classes: int, log: Any, stride: int = 16) -> DetectNetV2:
    """The model to train for a detector of output ``stride`` (config/models.yaml's): a palm
    trunk is cut where its map has that stride; a model of another stride is one clear error,
    since its grid would not be the one the runtime decodes."""
    model = _initial_model(cfg, num_classes, log, stride)
    if model.backbone.stride != stride:  # only a checkpoint can bring another stride
        raise ValueError(
            f"the detector's output stride is {model.backbone.stride}, config/models.yaml says {stride}: "
            f"{cfg.init_from} cannot be retrained for this grid; train from the trunk instead"
        )
    freeze_if_palm(model, cfg.palm_frozen_stages, log, "detector")
    return model


def _initial_model(cfg: DetectorTrainConfig, num_classes: int, log: Any, stride: int) -> DetectNetV2:
    """A fresh model, or one started from ``init_from``.

    A pruned checkpoint (``gesture-train prune``) brings its own, smaller architecture: the model
    takes its shapes and every weight (retraining the pruned graph). Otherwise matching tensors
    are copied into the configured architecture and a head for other classes stays fresh
    (TAO's PeopleNet-style start).
    """
    if cfg.palm_tflite and not cfg.init_from:
        tflite_path = resolve_palm_tflite(cfg.palm_tflite)
        graph, state = read_palm_graph(tflite_path, palm_cut(stride))
        palm = DetectNetV2(num_classes, palm_graph=graph)
        palm.backbone.load_state_dict(state)
        log(f"detector: trunk = MediaPipe palm detector from {tflite_path} ({len(state)} tensors)")
        return palm
    if not cfg.init_from:
        return DetectNetV2(num_classes, cfg.depth, cfg.width, stride=stride)
    ckpt = load_checkpoint(Path(cfg.init_from))
    pruned = bool(ckpt.get("pruned") or ckpt.get("config", {}).get("pruned"))
    if pruned or ckpt.get("config", {}).get("palm_graph"):
        model = build_model("detector", ckpt["config"], ckpt["state_dict"])
        assert isinstance(model, DetectNetV2)
        if pruned:
            model.config["pruned"] = True
        log(f"detector: retraining the {'pruned ' if pruned else ''}model from {cfg.init_from}")
        return model
    model = DetectNetV2(num_classes, cfg.depth, cfg.width, stride=stride)
    kept = load_matching(model, Path(cfg.init_from))
    log(f"detector: initialised {kept} of {len(model.state_dict())} tensors from {cfg.init_from}")
    return model


def _calibration_batches(data: DetectorData, cfg: DetectorTrainConfig, batch: int = 8) -> Iterator[torch.Tensor]:
    """Un-augmented training images, as the runtime pre-processes them, taken in turn from every
    training scene (not the first N of the listing, which would be one dataset's)."""
    chosen = across_scenes(data.scenes, cfg.calibration_images)
    for start in range(0, len(chosen), batch):
        yield torch.from_numpy(np.stack([data.item(i, None, cfg.cov_radius)[0] for i in chosen[start : start + batch]]))


def repeat_order(samples: list[DetSample], repeat: dict[str, int]) -> np.ndarray:
    """Each training image's index as many times per epoch as its file-name prefix asks (once
    when no prefix matches; 0 leaves it out of the epoch)."""
    times = [next((n for prefix, n in repeat.items() if s.image.name.startswith(prefix)), 1) for s in samples]
    if any(n < 0 for n in times):
        raise ValueError(f"repeat counts must be >= 0: {repeat}")
    return np.repeat(np.arange(len(samples)), times)


def split_detection_set(cfg: DetectorTrainConfig) -> tuple[list[DetSample], list[DetSample], set[str]]:
    """Training and validation images, split by whole scenes over the detection set and the
    ``extra_data`` frames together (so ``val_fraction_of`` draws HaGRID's people from both);
    validation is ``select_validation`` of those scenes (what ``validation_frames`` reads back)."""
    samples = select_samples(load_detection_set(Path(cfg.data)), cfg.scenes, cfg.limit)
    extra = [
        s
        for root in cfg.extra_data
        for s in select_samples(load_gesture_frames_for_detection(Path(root)), (), cfg.limit)
    ]
    val_scenes = split_by_scene(
        [s.scene for s in samples + extra], set(cfg.val_scenes), val_fraction_of=cfg.val_fraction_of
    )
    train = [s for s in samples + extra if s.scene not in val_scenes]
    return train, select_validation(samples, extra, val_scenes, cfg.val_fraction_of), val_scenes


def train_detector(
    cfg: DetectorTrainConfig, spec: DetectorSpec, clustering: ClusterConfig, log: Any = print
) -> dict[str, Any]:
    """Train, checkpoint, export the ONNX and evaluate it on the validation scenes."""
    # fake quantisation keeps its int8 grid only in float32: QAT runs without autocast unless asked
    rt = make_runtime(cfg.device, "off" if cfg.qat and cfg.amp == "auto" else cfg.amp)
    exp = Experiment(cfg.out, cfg, log=log, write=rt.is_main)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + rt.rank)
    train_s, val_s, val_scenes = split_detection_set(cfg)
    exp.log(
        f"detector: {len(train_s)} train / {len(val_s)} val images; val scenes: {sorted(val_scenes)}; "
        f"device {rt.device}, amp {rt.amp_dtype}, world size {rt.world_size}"
    )
    data = DetectorData(
        train_s,
        spec,
        spec.labels,
        cfg.max_source_width,
        cfg.mosaic,
        cfg.blur,
        cfg.blur_kernel,
        cfg.zoom_out,
        cfg.zoom_out_p,
    )
    order = repeat_order(train_s, cfg.repeat)
    if cfg.repeat:
        exp.log(f"detector: {len(order)} draws per epoch from {len(train_s)} images (repeat {cfg.repeat})")
    model = initial_model(cfg, len(spec.labels), exp.log, spec.stride)
    float_val: dict[str, Any] | None = None
    if cfg.qat:
        if not cfg.init_from:
            raise ValueError("qat needs init_from: a trained float detector.pt")
        if rt.is_main and val_s:  # the float model's accuracy, for the QAT-vs-float difference
            export_detector(model, spec, exp.dir / "float.onnx")
            float_val = evaluate_detector(exp.dir / "float.onnx", spec, val_s, clustering)
        quantize(model)
        n = calibrate(model, _calibration_batches(data, cfg))
        exp.log(
            f"detector: QAT: batch norm folded, {len(quant_convs(model))} "
            f"convs quantised, ranges calibrated on {n} images"
        )

    def batch_loss(net: torch.nn.Module, idx: np.ndarray) -> torch.Tensor:
        items = [data.item(int(order[i]), rng, cfg.cov_radius) for i in idx]
        x = rt.images(torch.from_numpy(np.stack([it[0] for it in items])))
        cov, bbox = (torch.from_numpy(np.stack([it[k] for it in items])).to(rt.device) for k in (1, 2))
        pc, pb = net(x)
        return detector_loss(pc, pb, cov, bbox, cfg)

    ema = EmaWeights(model, cfg.ema) if cfg.ema else None
    history, train_time = fit(
        model,
        len(order),
        batch_loss,
        epochs=cfg.epochs,
        batch=cfg.batch,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        rng=rng,
        name="detector",
        runtime=rt,
        ema=ema,
        trunk_lr_scale=cfg.trunk_lr_scale,
        **exp.fit_options(cfg),
    )
    if not rt.is_main:
        return {}
    last_step = ema.swap_into(model) if ema is not None else None
    torch.save(
        {
            "state_dict": model.state_dict(),
            "config": model.config,
            "pruned": bool(model.config.get("pruned")),
            "qat": cfg.qat,
        },
        exp.dir / "detector.pt",
    )
    onnx_path = exp.dir / "hand_detector.onnx"
    diff = export_detector(model, spec, onnx_path)
    metrics: dict[str, Any] = {"train_time_s": train_time, "onnx_vs_torch_max_abs_diff": diff, "history": history}
    metrics["val"] = evaluate_detector(onnx_path, spec, val_s, clustering, exp.dir / "pr_curve.png") if val_s else {}
    if last_step is not None and val_s:
        export_detector(with_state(model, last_step), spec, exp.dir / "last_step.onnx")
        metrics["val_last_step"] = evaluate_detector(exp.dir / "last_step.onnx", spec, val_s, clustering)
    if float_val is not None:
        metrics["val_float"] = float_val
        metrics["qat_minus_float_ap50"] = metrics["val"]["ap50"] - float_val["ap50"]
    exp.finish(cfg, metrics, onnx_path, sum(p.numel() for p in model.parameters()), val_scenes)
    exp.log(f"detector: val AP50 {metrics['val'].get('ap50')} AP70 {metrics['val'].get('ap70')} ({train_time:.0f} s)")
    return metrics

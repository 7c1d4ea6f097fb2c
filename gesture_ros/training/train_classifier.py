"""Train a GestureNet-compatible classifier on hand crops made exactly as the runtime makes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gesture_ros.core.model_spec import ClassifierSpec
from gesture_ros.core.preprocess import Preprocessor
from gesture_ros.core.roi import RoiConfig
from gesture_ros.core.yamlfile import read_yaml

from ..datasets import GestureSample, evenly, gesture_crop, load_detection_gestures, load_gesture_set, split_gestures
from ..model_eval import evaluate_classifier, read_bgr
from .augment import colour_jitter, rotate
from .experiment import Experiment, RunOptions
from .export import export_classifier
from .loop import EmaWeights, fit, load_matching, make_runtime, with_state
from .models import GestureNet
from .palm_trunk import TrunkOptions, freeze_if_palm, read_palm_graph, resolve_palm_tflite


@dataclass
class ClassifierTrainConfig(RunOptions, TrunkOptions):
    data: str = "../shared/data"
    out: str = "runs/classifier"
    val_scenes: list[str] = field(default_factory=list)
    val_crop_fraction: float = 0.2
    #: scene-name prefix -> fraction of those full-frame scenes (people) that validate, chosen by
    #: the same hash as the detector's ``val_fraction_of``: ``{"hagrid_": 0.25}``
    val_fraction_of: dict[str, float] = field(default_factory=dict)
    depth: int = 10
    width: float = 0.5
    epochs: int = 60
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0
    #: at most N training and N validation images of each class, spread evenly over the class's
    #: images (0 = all): short runs; the split by scene comes first, so validation stays unseen
    limit_per_class: int = 0
    checkpoint_every: int = 10  # epochs between checkpoints (0: none)
    #: detection folders (like ../shared/data/hands_detect) whose manifest gives each box a source
    #: gesture label; their hands of training scenes are extra training crops
    extra_detection_data: list[str] = field(default_factory=list)
    #: source label -> class for those boxes (the mapping of ../shared/data/README.md)
    source_labels: dict[str, str] = field(default_factory=dict)
    #: start from this checkpoint's weights where names and shapes match (a detector.pt of the
    #: same depth and width: its trunk has seen thousands of hands, the classifier's crops are a
    #: few hundred); the classification layer stays fresh
    init_from: str = ""


class ClassifierData:
    def __init__(self, samples: list[GestureSample], spec: ClassifierSpec, roi: RoiConfig) -> None:
        self.samples = samples
        self.spec = spec
        self.roi = roi
        self.targets = np.array([spec.labels.index(s.label) for s in samples], np.int64)
        self.frames = [read_bgr(s.image) for s in samples]
        self.pre = Preprocessor(spec.input, max_batch=1)

    def __len__(self) -> int:
        return len(self.samples)

    def item(self, i: int, rng: np.random.Generator) -> np.ndarray:
        s, img = self.samples[i], self.frames[i]
        box = None if s.box is None else s.box.copy()
        if box is not None:  # detector boxes are never exact: jitter centre and size
            w, h = box[2] - box[0], box[3] - box[1]
            shift = rng.uniform(-0.1, 0.1, 2) * [w, h]
            scale = rng.uniform(0.85, 1.2)
            cx, cy = (box[0] + box[2]) / 2 + shift[0], (box[1] + box[3]) / 2 + shift[1]
            box = np.array([cx - w * scale / 2, cy - h * scale / 2, cx + w * scale / 2, cy + h * scale / 2], np.float32)
        roi = replace(self.roi, ratio=self.roi.ratio * rng.uniform(0.85, 1.15))
        frame, (x1, y1, x2, y2) = gesture_crop(img, box, roi)
        crop = np.ascontiguousarray(frame[max(0, y1) : y2, max(0, x1) : x2])
        if rng.random() < 0.5:
            crop = np.ascontiguousarray(crop[:, ::-1])
        if rng.random() < 0.5:
            crop = rotate(crop, rng.uniform(-15, 15))
        crop = colour_jitter(crop, rng)
        self.pre.fill(0, crop, "bgr")
        return self.pre.tensor[0].copy()


def frames_seen_by(checkpoint: Path, depth: int = 8) -> set[Path] | None:
    """Every image the detector behind ``checkpoint`` (and the ones it started from) trained on,
    from the ``config.yaml`` its experiment wrote beside it; None when that cannot be told (a
    checkpoint from elsewhere, or one that is not a detector's)."""
    from .train_detector import DetectorTrainConfig, split_detection_set

    cfg_file = checkpoint.parent / "config.yaml"
    if depth == 0 or not cfg_file.is_file():
        return None
    raw = read_yaml(cfg_file, "experiment config")
    if isinstance(raw, dict) and "threshold" in raw and "model" in raw:  # a pruning step: its source model's frames
        return frames_seen_by(Path(raw["model"]), depth - 1)
    try:
        det_cfg = DetectorTrainConfig(**raw)
        train, _, _ = split_detection_set(det_cfg)
    except (TypeError, FileNotFoundError):
        return None
    seen = {s.image.resolve() for s in train}
    if det_cfg.init_from:
        before = frames_seen_by(Path(det_cfg.init_from), depth - 1)
        if before is None:
            return None
        seen |= before
    return seen


def check_trunk_provenance(init_from: Path, val: list[GestureSample], log: Any) -> None:
    """A trunk that trained on the classifier's validation frames would make its figures
    optimistic: refuse it (the detector's ``val_scenes`` must hold those scenes too)."""
    seen = frames_seen_by(init_from)
    if seen is None:
        log(
            f"classifier: cannot tell which frames {init_from} was trained on "
            "(no detector config.yaml beside it or a checkpoint it started from); not checked"
        )
        return
    leaked = sorted({s.image.name for s in val if s.image.resolve() in seen})
    if leaked:
        raise ValueError(
            f"init_from {init_from} was trained on {len(leaked)} of the classifier's validation images "
            f"(e.g. {leaked[0]}): add their scenes to that detector's val_scenes, or train without init_from"
        )


def initial_classifier(
    cfg: ClassifierTrainConfig, spec: ClassifierSpec, val: list[GestureSample], log: Any
) -> GestureNet:
    """A ResNet classifier, or one on the palm-detector trunk (``palm_tflite``); then the trunk
    of ``init_from`` (a detector.pt of the same trunk) where names and shapes match."""
    if cfg.palm_tflite:
        tflite_path = resolve_palm_tflite(cfg.palm_tflite)
        graph, state = read_palm_graph(tflite_path)
        norm = spec.input.normalisation  # the palm trunk sees pixel / 255, whatever the config feeds
        affine = ([1.0 / (255.0 * s) for s in norm.scale], [m / 255.0 for m in norm.mean])
        model = GestureNet(len(spec.labels), palm_graph=graph, input_affine=affine)
        model.backbone.load_state_dict(state)
        log(f"classifier: trunk = MediaPipe palm detector from {tflite_path}")
    else:
        model = GestureNet(len(spec.labels), cfg.depth, cfg.width)
    if cfg.init_from:  # before the frames are read: a refused trunk fails fast
        check_trunk_provenance(Path(cfg.init_from), val, log)
        kept = load_matching(model, Path(cfg.init_from))
        trunk = sum(k.startswith("backbone.") for k in model.state_dict())
        if kept < trunk:  # a half-copied trunk (other width, a pruned file) is no starting point
            what = "palm-trunk" if cfg.palm_tflite else f"depth-{cfg.depth}, width-{cfg.width}"
            raise ValueError(
                f"init_from {cfg.init_from}: only {kept} of the {trunk} trunk tensors of a {what} classifier "
                "match (train it with the detector's trunk: same palm_tflite, or depth and width, unpruned)"
            )
        log(f"classifier: initialised {kept} of {len(model.state_dict())} tensors from {cfg.init_from}")
    freeze_if_palm(model, cfg.palm_frozen_stages, log, "classifier")
    return model


def per_class(samples: list[GestureSample], labels: Sequence[str], n: int) -> list[GestureSample]:
    """At most ``n`` samples of each class, spread evenly over the class's images by name."""
    return [
        s for c in labels for s in evenly(sorted((x for x in samples if x.label == c), key=lambda x: x.image.name), n)
    ]


def train_classifier(
    cfg: ClassifierTrainConfig, spec: ClassifierSpec, roi: RoiConfig, log: Any = print
) -> dict[str, Any]:
    """Train on runtime-made crops, checkpoint, export the ONNX and evaluate it on the validation set."""
    rt = make_runtime(cfg.device, cfg.amp)
    exp = Experiment(cfg.out, cfg, log=log, write=rt.is_main)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed + rt.rank)
    samples = load_gesture_set(Path(cfg.data), spec.labels)
    train_s, val_s, val_scenes = split_gestures(
        samples, set(cfg.val_scenes), cfg.val_crop_fraction, cfg.val_fraction_of
    )
    if cfg.limit_per_class:
        train_s, val_s = (per_class(part, spec.labels, cfg.limit_per_class) for part in (train_s, val_s))
    for root in cfg.extra_detection_data:
        extra = [
            s for s in load_detection_gestures(Path(root), cfg.source_labels, spec.labels) if s.scene not in val_scenes
        ]
        exp.log(f"classifier: {len(extra)} extra training crops from {root}")
        train_s += extra
    exp.log(
        f"classifier: {len(train_s)} train / {len(val_s)} val crops; val scenes: {sorted(val_scenes)}; "
        f"device {rt.device}, amp {rt.amp_dtype}, world size {rt.world_size}"
    )
    model = initial_classifier(cfg, spec, val_s, exp.log)
    data = ClassifierData(train_s, spec, roi)
    counts = np.bincount(data.targets, minlength=len(spec.labels)).astype(np.float32)
    class_w = torch.from_numpy(
        np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / len(spec.labels), 0.0).astype(np.float32)
    )
    class_w = class_w.to(rt.device)

    def batch_loss(net: torch.nn.Module, idx: np.ndarray) -> torch.Tensor:
        x = rt.images(torch.from_numpy(np.stack([data.item(int(i), rng) for i in idx])))
        y = torch.from_numpy(data.targets[idx]).to(rt.device)
        logits = net(x, logits=True)
        return F.cross_entropy(logits.float(), y, weight=class_w, label_smoothing=cfg.label_smoothing)

    ema = EmaWeights(model, cfg.ema) if cfg.ema else None
    history, train_time = fit(
        model,
        len(data),
        batch_loss,
        epochs=cfg.epochs,
        batch=cfg.batch,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        rng=rng,
        name="classifier",
        runtime=rt,
        log_every=5,
        drop_last=False,
        ema=ema,
        trunk_lr_scale=cfg.trunk_lr_scale,
        **exp.fit_options(cfg),
    )
    if not rt.is_main:
        return {}
    last_step = ema.swap_into(model) if ema is not None else None
    torch.save({"state_dict": model.state_dict(), "config": model.config}, exp.dir / "classifier.pt")
    onnx_path = exp.dir / "gesture_classifier.onnx"
    diff = export_classifier(model, spec, onnx_path)
    metrics: dict[str, Any] = {"train_time_s": train_time, "onnx_vs_torch_max_abs_diff": diff, "history": history}
    metrics["val"] = evaluate_classifier(onnx_path, spec, val_s, roi, exp.dir / "confusion.png") if val_s else {}
    if last_step is not None and val_s:
        export_classifier(with_state(model, last_step), spec, exp.dir / "last_step.onnx")
        metrics["val_last_step"] = evaluate_classifier(exp.dir / "last_step.onnx", spec, val_s, roi)
    exp.finish(cfg, metrics, onnx_path, sum(p.numel() for p in model.parameters()), val_scenes)
    exp.log(
        f"classifier: val accuracy {metrics['val'].get('accuracy')} "
        f"macro-F1 {metrics['val'].get('macro_f1')} ({train_time:.0f} s)"
    )
    return metrics

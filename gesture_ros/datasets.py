"""Datasets as the runtime sees them: KITTI labels, scenes, scene-wise splits, gesture crops."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from .core.image import Image
from .core.kitti import read_kitti
from .core.roi import RoiConfig, expand_rois

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class DetSample:
    image: Path
    boxes: npt.NDArray[np.float32]  # (N, 4) x1,y1,x2,y2 in image pixels
    labels: tuple[str, ...]
    scene: str


def scene_of(name: str) -> str:
    """Scene/video of a file when no manifest says it: EgoHands video or SubhiH session prefix."""
    stem = Path(name).stem
    if "_frame_" in stem:
        return stem.split("__", 1)[-1].rsplit("_frame_", 1)[0]
    base = stem.split("__", 1)[-1]
    return base.rsplit("_pic", 1)[0] if "_pic" in base else base


def load_detection_set(root: Path) -> list[DetSample]:
    """``root/images/*.jpg`` + ``root/labels/*.txt`` (+ optional ``manifest.csv`` with scenes)."""
    scenes: dict[str, str] = {}
    manifest = root / "manifest.csv"
    if manifest.is_file():
        for row in csv.DictReader(manifest.open()):
            scenes[Path(row["image"]).name] = row.get("scene") or scene_of(row["image"])
    if not (root / "images").is_dir():
        raise FileNotFoundError(f"no images/ folder in {root} (expected images/*.jpg + labels/*.txt)")
    samples = []
    for img in sorted((root / "images").iterdir()):
        if img.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        boxes, names = read_kitti(root / "labels" / (img.stem + ".txt"))
        samples.append(DetSample(img, boxes, names, scenes.get(img.name, scene_of(img.name))))
    return samples


class _Scened(Protocol):
    @property
    def image(self) -> Path: ...
    @property
    def scene(self) -> str: ...


S = TypeVar("S", bound=_Scened)
T = TypeVar("T")


def evenly(items: Sequence[T], n: int) -> list[T]:
    """``n`` items spread evenly over ``items`` (first and last included), in their order.

    A subset for a short run that still spans the whole sequence (a video's frames from start
    to end), instead of its first ``n``, which would depend on what happens to sort first.
    """
    if n <= 0 or n >= len(items):
        return list(items)
    if n == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def across_scenes(scenes: Sequence[str], n: int) -> list[int]:
    """Indices of ``n`` items taken in turn from each scene (a scene's items in their order):
    a calibration or preview set that sees every scene, whatever sorts first in the listing."""
    by_scene: dict[str, list[int]] = {}
    for i, s in enumerate(scenes):
        by_scene.setdefault(s, []).append(i)
    queues = [by_scene[s] for s in sorted(by_scene)]
    out: list[int] = []
    depth = 0
    while len(out) < min(n, len(scenes)):
        out += [q[depth] for q in queues if depth < len(q)][: n - len(out)]
        depth += 1
    return out


def select_samples(samples: Sequence[S], scenes: Collection[str] = (), per_scene: int = 0) -> list[S]:
    """The samples a run asked for: only ``scenes`` (a scene name, or the start of a file name
    such as ``egohands__``; empty = all), at most ``per_scene`` of each scene (0 = all), spread
    evenly over the scene's frames.

    Chosen by what the images are, never by their position in a listing: adding images of
    another dataset to the folder changes nothing for the scenes a run names. A named scene or
    prefix that matches nothing is an error (a typo would otherwise train on nothing, or on
    everything).
    """
    picked = list(samples)
    if scenes:
        unknown = [s for s in scenes if not any(x.scene == s or x.image.name.startswith(s) for x in samples)]
        if unknown:
            have = sorted({x.scene for x in samples})
            raise ValueError(
                f"scene(s) or file prefix(es) {', '.join(unknown)} match no image (its scenes: {', '.join(have)})"
            )
        picked = [x for x in samples if x.scene in scenes or any(x.image.name.startswith(s) for s in scenes)]
    if per_scene > 0:
        by_scene: dict[str, list[S]] = {}
        for x in picked:
            by_scene.setdefault(x.scene, []).append(x)
        keep = {
            id(x) for group in by_scene.values() for x in evenly(sorted(group, key=lambda x: x.image.name), per_scene)
        }
        picked = [x for x in picked if id(x) in keep]
    return picked


def split_by_scene(
    scenes: list[str],
    val_scenes: set[str] | None = None,
    val_fraction: float = 0.25,
    val_fraction_of: dict[str, float] | None = None,
) -> set[str]:
    """Validation scenes: the given ones, or a deterministic hash-chosen fraction of scenes.

    ``val_fraction_of`` adds, for each scene-name prefix, the scenes starting with it whose name
    hashes below that fraction (``{"hagrid_": 0.25}``: about a quarter of HaGRID's people, whole).
    The choice depends on the name alone, not on which other scenes a trainer loaded, so the
    classifier's validation people are among the detector's and stay unseen by the detector
    trunk it starts from.

    A given scene that no image has is an error, not an empty set: a misspelt name would
    otherwise leave the frames meant for validation in the training set without a word.
    """
    uniq = sorted(set(scenes))
    if val_scenes or val_fraction_of:
        missing = sorted(set(val_scenes or ()) - set(uniq))
        if missing:
            raise ValueError(
                f"validation scene(s) {', '.join(missing)} not in the data (its scenes: {', '.join(uniq)})"
            )
        chosen = set(val_scenes or ())
        for prefix, fraction in (val_fraction_of or {}).items():
            group = [s for s in uniq if s.startswith(prefix)]
            if not group:
                raise ValueError(f"no scene starts with {prefix!r} (val_fraction_of): its scenes: {', '.join(uniq)}")
            chosen |= {s for s in group if _hash_unit(s) < fraction}
        return chosen
    n = min(max(1, round(len(uniq) * val_fraction)), len(uniq) - 1)  # keep a training scene
    return set(_hash_ranked(uniq)[:n])


def _hash_ranked(scenes: list[str]) -> list[str]:
    return sorted(scenes, key=lambda s: hashlib.sha1(s.encode()).hexdigest())


def _hash_unit(scene: str) -> float:
    """The scene name's SHA-1 as a number in [0, 1): uniform, and the same in every process."""
    return int(hashlib.sha1(scene.encode()).hexdigest(), 16) / 16**40


@dataclass(frozen=True)
class GestureSample:
    image: Path
    box: npt.NDArray[np.float32] | None  # None: the whole image is a tight hand crop
    label: str
    scene: str


def load_gesture_set(root: Path, labels: tuple[str, ...]) -> list[GestureSample]:
    """``root/gestures/<class>/*.jpg`` (+ ``root/gestures_labels/<class>/*.txt`` for full frames).

    A full frame's scene is its person or room from the manifest (``gesture_frame_scenes``, the
    detector's names for them), so frames of one person fall on one side of a split; SubhiH
    frames keep their recording place (``scene_of``), which the classifier's ``val_scenes`` name.
    """
    out = []
    manifest_scenes = gesture_frame_scenes(root)
    for cls in labels:
        folder = root / "gestures" / cls
        if not folder.is_dir():
            continue
        for img in sorted(folder.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            boxes, _ = read_kitti(root / "gestures_labels" / cls / (img.stem + ".txt"))
            if len(boxes) == 0:
                # tight crop: every crop is its own photo of its own person
                out.append(GestureSample(img, None, cls, "crop:" + img.stem))
            else:
                scene = scene_of(img.name)
                if not img.name.startswith("subhih__"):
                    scene = manifest_scenes.get(img.name, scene)
                for b in boxes:
                    out.append(GestureSample(img, b, cls, scene))
    return out


def load_detection_gestures(root: Path, label_map: dict[str, str], labels: tuple[str, ...]) -> list[GestureSample]:
    """Hands of a detection folder whose ``manifest.csv`` names each box's source label
    (``source_labels``, one per KITTI line in order, ``|``-separated: SubhiH's ``0-hand|5-hand``),
    mapped onto the classifier's classes by ``label_map``.

    Boxes whose label is not mapped, and images whose label count differs from their box count,
    are left out (a wrong pairing would teach the wrong gesture).
    """
    manifest = root / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(
            f"{manifest} not found: gesture labels of detection boxes come from its source_labels column"
        )
    out = []
    for row in csv.DictReader(manifest.open()):
        names = [n for n in (row.get("source_labels") or "").split("|") if n]
        if not names:
            continue
        img = root / "images" / Path(row["image"]).name
        boxes, _ = read_kitti(root / "labels" / (img.stem + ".txt"))
        if len(boxes) != len(names):
            continue
        for box, name in zip(boxes, names, strict=True):
            if label_map.get(name) in labels:
                out.append(GestureSample(img, box, label_map[name], scene_of(img.name)))
    return out


def gesture_crop(
    image: Image, box: npt.NDArray[np.float32] | None, roi: RoiConfig
) -> tuple[Image, tuple[int, int, int, int]]:
    """The frame region the runtime would classify for this hand, as an image + integer region.

    For full frames this is exactly the runtime's ROI (clipped to the frame). A tight crop has
    no context around the hand: it is first extended by edge replication to the size the
    runtime's ROI would have, so the hand covers the same fraction of the classifier input.
    """
    if box is None:
        h, w = image.shape[:2]
        side = int(np.ceil(max(w, h) * roi.ratio + 2 * roi.margin_px))
        pad_x, pad_y = max(0, (side - w) // 2), max(0, (side - h) // 2)
        canvas = cv2.copyMakeBorder(image, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_REPLICATE)
        return canvas, (0, 0, canvas.shape[1], canvas.shape[0])
    h, w = image.shape[:2]
    rois, _ = expand_rois(box[None], w, h, roi)
    r = rois[0]
    return image, (int(np.floor(r[0])), int(np.floor(r[1])), int(np.ceil(r[2])), int(np.ceil(r[3])))


def split_gestures(
    samples: list[GestureSample],
    val_scenes: set[str],
    val_crop_fraction: float = 0.2,
    val_fraction_of: dict[str, float] | None = None,
) -> tuple[list[GestureSample], list[GestureSample], set[str]]:
    """Full frames split by scene (``split_by_scene``); tight crops (one photo each) by a
    deterministic hash."""
    frame_scenes = [s.scene for s in samples if s.box is not None]
    val_frames = split_by_scene(frame_scenes, val_scenes, val_fraction_of=val_fraction_of) if frame_scenes else set()
    crop_scenes = [s.scene for s in samples if s.box is None]
    val_crops = split_by_scene(crop_scenes, None, val_crop_fraction) if crop_scenes else set()
    val = val_frames | val_crops
    return [s for s in samples if s.scene not in val], [s for s in samples if s.scene in val], val_frames


def gesture_frame_scenes(root: Path) -> dict[str, str]:
    """File name -> scene of the gesture images, from ``root/gestures_manifest.csv`` (empty
    without one): ``session_<n>`` for SubhiH (the detection set's naming), otherwise the
    manifest's scene behind the source prefix (``anton_single_room``), kept as it is when it
    already carries it (HaGRID's people: ``hagrid_u49386f3f5d25``, the detection set's naming)."""
    scenes: dict[str, str] = {}
    manifest = root / "gestures_manifest.csv"
    if manifest.is_file():
        for row in csv.DictReader(manifest.open()):
            name = Path(row["image"]).name
            scene, prefix = row.get("scene") or scene_of(name), name.split("__", 1)[0]
            if name.startswith("subhih__"):
                scenes[name] = f"session_{scene}"
            else:
                scenes[name] = scene if scene.startswith(prefix + "_") else f"{prefix}_{scene}"
    return scenes


def load_gesture_frames_for_detection(root: Path) -> list[DetSample]:
    """Full-frame gesture images (``root/gestures/<class>/*.jpg`` with boxes in
    ``root/gestures_labels/``) as extra *hand* detection data; tight crops are skipped.

    Scenes follow the detection set's naming (``session_<n>`` for SubhiH, from
    ``gestures_manifest.csv`` when present), so validation scenes can be kept out by name.
    """
    scenes = gesture_frame_scenes(root)
    out = []
    labels_root = root / "gestures_labels"
    for folder in sorted((root / "gestures").iterdir()) if (root / "gestures").is_dir() else []:
        for img in sorted(folder.iterdir()):
            if img.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            boxes, _ = read_kitti(labels_root / folder.name / (img.stem + ".txt"))
            if len(boxes):
                out.append(DetSample(img, boxes, ("hand",) * len(boxes), scenes.get(img.name, scene_of(img.name))))
    return out


def validation_frames(
    data: Path, extra_roots: Sequence[Path], val_scenes: Collection[str], val_fraction_of: Collection[str] = ()
) -> list[DetSample]:
    """The labelled frames a detector run validated on, read from ``data`` (the detection set)
    and ``extra_roots`` (laid out like ../shared/data): ``select_validation`` of them. Training
    and the benchmarks both call this, so a figure means the same frames everywhere."""
    extra = [s for root in extra_roots for s in load_gesture_frames_for_detection(root)] if val_fraction_of else []
    return select_validation(load_detection_set(data), extra, val_scenes, val_fraction_of)


def select_validation(
    samples: Sequence[DetSample],
    extra: Sequence[DetSample],
    val_scenes: Collection[str],
    val_fraction_of: Collection[str],
) -> list[DetSample]:
    """The detection set's images of the validation scenes, plus the extra full frames of the
    validation scenes drawn by ``val_fraction_of``'s prefixes (HaGRID's people)."""
    prefixes = tuple(val_fraction_of)
    frames = [s for s in samples if s.scene in val_scenes]
    if prefixes:
        frames += [s for s in extra if s.scene in val_scenes and s.scene.startswith(prefixes)]
    return frames

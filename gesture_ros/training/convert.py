"""Dataset conversion into the layout every other step reads: ``images/``, KITTI ``labels/`` and
``manifest.csv`` (image, source, scene, size, box count), plus a dataset report.

The scene (EgoHands video, VOC folder or file prefix) is recorded per image so that validation
splits are always by scene, never by frame: neighbouring video frames are near-duplicates.
"""

from __future__ import annotations

import csv
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from gesture_ros.core.plots import histogram_png

from ..datasets import IMAGE_SUFFIXES, load_detection_set, scene_of

MANIFEST_FIELDS = ["image", "source", "scene", "width", "height", "n_boxes", "origin"]


@dataclass(frozen=True)
class Converted:
    image: Path  # source image
    name: str  # file name in images/
    boxes: npt.NDArray[np.float32]
    labels: list[str]
    scene: str
    width: int
    height: int


def kitti_line(label: str, box: npt.ArrayLike) -> str:
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box).ravel()[:4])
    return f"{label} 0.00 0 0.00 {x1:.2f} {y1:.2f} {x2:.2f} {y2:.2f} 0.00 0.00 0.00 0.00 0.00 0.00 0.00"


def _image_size(path: Path) -> tuple[int, int]:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return int(img.shape[1]), int(img.shape[0])


def write_dataset(items: list[Converted], out: Path, source: str) -> dict[str, Any]:
    """Write images/, labels/ and manifest.csv; return the dataset report (also written)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    with (out / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MANIFEST_FIELDS)
        for it in items:
            shutil.copyfile(it.image, out / "images" / it.name)
            lines = [kitti_line(lbl, b) for lbl, b in zip(it.labels, it.boxes, strict=True)]
            (out / "labels" / (Path(it.name).stem + ".txt")).write_text("".join(line + "\n" for line in lines))
            w.writerow([f"images/{it.name}", source, it.scene, it.width, it.height, len(it.boxes), str(it.image)])
    return dataset_report(out)


# --- EgoHands -------------------------------------------------------------------------------

EGOHANDS_HANDS = ("myleft", "myright", "yourleft", "yourright")


def egohands_boxes(polygons_mat: Path) -> list[npt.NDArray[np.float32]]:
    """Boxes per frame from an EgoHands ``polygons.mat`` (min/max of each hand polygon).

    The file holds a 1x100 struct array ``polygons`` with fields myleft/myright/yourleft/yourright,
    each an (N, 2) array of x, y points or empty when that hand is not visible.
    """
    from scipy.io import loadmat

    mat = loadmat(str(polygons_mat))
    if "polygons" not in mat:
        raise ValueError(
            f"{polygons_mat}: no 'polygons' variable (keys: {sorted(k for k in mat if not k.startswith('__'))})"
        )
    frames = []
    for entry in np.asarray(mat["polygons"]).ravel():
        boxes = []
        for hand in EGOHANDS_HANDS:
            if hand not in (entry.dtype.names or ()):
                continue
            pts = np.asarray(entry[hand], dtype=np.float64)
            if pts.size < 4:  # empty or a single point: hand not visible
                continue
            pts = pts.reshape(-1, 2)
            pts = pts[np.isfinite(pts).all(axis=1)]
            if len(pts) < 2:
                continue
            boxes.append([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
        frames.append(np.asarray(boxes, np.float32).reshape(-1, 4))
    return frames


def _clip(
    boxes: npt.NDArray[np.float32], w: int, h: int, min_size: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Boxes clipped to the image, and which of them stay (at least ``min_size`` px each way)."""
    b = boxes.copy()
    np.clip(b[:, 0::2], 0, w, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, h, out=b[:, 1::2])
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return b[keep], keep


def convert_egohands(src: Path, out: Path, min_size: float = 2.0) -> dict[str, Any]:
    """EgoHands as distributed: ``_LABELLED_SAMPLES/<video>/frame_*.jpg`` + ``polygons.mat``.

    Frames sorted by name pair with the struct array entries in order (as in the dataset's own
    MATLAB code). ``src`` may be the dataset root or the ``_LABELLED_SAMPLES`` folder itself.
    """
    root = src / "_LABELLED_SAMPLES" if (src / "_LABELLED_SAMPLES").is_dir() else src
    videos = sorted(d for d in root.iterdir() if (d / "polygons.mat").is_file())
    if not videos:
        raise FileNotFoundError(f"no <video>/polygons.mat under {root}")
    items = []
    for video in videos:
        frames = sorted(p for p in video.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        boxes = egohands_boxes(video / "polygons.mat")
        if len(frames) != len(boxes):
            raise ValueError(f"{video}: {len(frames)} frames but {len(boxes)} polygon entries")
        for img, b in zip(frames, boxes, strict=True):
            w, h = _image_size(img)
            b, _ = _clip(b, w, h, min_size)
            items.append(
                Converted(
                    img,
                    f"egohands__{video.name}_{img.stem}{img.suffix.lower()}",
                    b,
                    ["hand"] * len(b),
                    video.name,
                    w,
                    h,
                )
            )
    return write_dataset(items, out, "EgoHands")


# --- Pascal VOC -----------------------------------------------------------------------------


def parse_voc(xml_path: Path) -> tuple[str, str, int, int, list[str], npt.NDArray[np.float32]]:
    """filename, folder, width, height, class names and boxes of one VOC annotation."""
    root = ET.parse(xml_path).getroot()
    text = lambda node, tag, default="": (node.findtext(tag) or default).strip()  # noqa: E731
    size = root.find("size")
    width = int(float(text(size, "width", "0"))) if size is not None else 0
    height = int(float(text(size, "height", "0"))) if size is not None else 0
    names, boxes = [], []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        try:
            box = [float(text(bb, k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError as exc:
            raise ValueError(f"{xml_path}: bad bndbox ({exc})") from None
        names.append(text(obj, "name"))
        boxes.append(box)
    return (
        text(root, "filename"),
        text(root, "folder"),
        width,
        height,
        names,
        np.asarray(boxes, np.float32).reshape(-1, 4),
    )


def convert_voc(
    src: Path, out: Path, class_map: dict[str, str] | None = None, scene_pattern: str = "", min_size: float = 2.0
) -> dict[str, Any]:
    """Pascal VOC (``Annotations/*.xml`` + ``JPEGImages/``) to KITTI.

    ``class_map`` renames classes (``{"hand": "hand", "person_hand": "hand"}``); objects of other
    classes are dropped when it is given. The scene is the first group of ``scene_pattern``
    matched against the file name, else the file-name scene rule of :func:`scene_of`. VOC boxes
    are 1-based inclusive pixels; KITTI boxes here are 0-based corners, hence the ``-1`` on the
    top-left corner.
    """
    ann = src / "Annotations" if (src / "Annotations").is_dir() else src
    img_dir = src / "JPEGImages" if (src / "JPEGImages").is_dir() else ann
    xmls = sorted(ann.glob("*.xml"))
    if not xmls:
        raise FileNotFoundError(f"no VOC .xml files under {ann}")
    pattern = re.compile(scene_pattern) if scene_pattern else None
    items = []
    for x in xmls:
        filename, _folder, w, h, names, boxes = parse_voc(x)
        img = img_dir / (filename or x.with_suffix(".jpg").name)
        if not img.is_file():
            raise FileNotFoundError(f"{x}: image {img} not found")
        if not (w and h):
            w, h = _image_size(img)
        if class_map is not None:
            wanted = [i for i, n in enumerate(names) if n in class_map]
            names, boxes = [class_map[names[i]] for i in wanted], boxes[wanted]
        boxes = boxes.copy()
        boxes[:, :2] -= 1.0
        kept, keep = _clip(boxes, w, h, min_size)
        names = [n for n, k in zip(names, keep, strict=True) if k]
        m = pattern.search(img.name) if pattern else None
        scene = m.group(1) if m else scene_of(img.name)
        items.append(Converted(img, f"voc__{img.stem}{img.suffix.lower()}", kept, names, scene, w, h))
    return write_dataset(items, out, "VOC")


# --- report ---------------------------------------------------------------------------------


def dataset_report(root: Path, out: Path | None = None) -> dict[str, Any]:
    """Counts per scene and class, boxes per image, and a box-size histogram PNG."""
    samples = load_detection_set(root)
    out = out or root
    out.mkdir(parents=True, exist_ok=True)
    heights = np.concatenate([s.boxes[:, 3] - s.boxes[:, 1] for s in samples]) if samples else np.zeros(0)
    per_scene: dict[str, dict[str, int]] = {}
    for s in samples:
        d = per_scene.setdefault(s.scene, {"images": 0, "boxes": 0})
        d["images"] += 1
        d["boxes"] += len(s.boxes)
    classes = Counter(lbl for s in samples for lbl in s.labels)
    per_image = Counter(len(s.boxes) for s in samples)
    report: dict[str, Any] = {
        "root": str(root),
        "images": len(samples),
        "boxes": int(sum(len(s.boxes) for s in samples)),
        "scenes": len(per_scene),
        "per_scene": dict(sorted(per_scene.items())),
        "classes": dict(classes),
        "boxes_per_image": {str(k): v for k, v in sorted(per_image.items())},
        "box_height_px": {
            "min": float(heights.min()) if len(heights) else None,
            "median": float(np.median(heights)) if len(heights) else None,
            "max": float(heights.max()) if len(heights) else None,
        },
    }
    if len(heights):
        edges = np.array([0, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1e9])
        counts, _ = np.histogram(heights, edges)
        labels = [f"<{int(e)}" for e in edges[1:-1]] + [f">={int(edges[-2])}"]
        report["box_height_histogram"] = dict(zip(labels, counts.tolist(), strict=True))
        histogram_png(out / "box_sizes.png", labels, counts.tolist(), "box height (px)")
        report["box_sizes_png"] = str(out / "box_sizes.png")
    import json

    (out / "dataset_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report

"""DetectNet_v2 output decoding and clustering, as DeepStream and TAO do it.

The runtime nodes and the training evaluator both call :func:`decode` + :func:`cluster`, so a
model evaluated offline behaves exactly as it does on the robot.

Grid decoding (per class c, cell row r, column k, above the coverage threshold)::

    cx = stride * k + offset            cy = stride * r + offset
    x1 = cx - bbox_scale * b[4c+0]      y1 = cy - bbox_scale * b[4c+1]
    x2 = cx + bbox_scale * b[4c+2]      y2 = cy + bbox_scale * b[4c+3]

then clipped to the network input. Clustering happens in network-input pixels (as in
DeepStream), before the boxes are mapped back to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from .boxes import iou_matrix
from .errors import ModelError

ClusterMethod = Literal["deepstream_dbscan", "tao_dbscan", "nms"]
CLUSTER_METHODS: tuple[str, ...] = ("deepstream_dbscan", "tao_dbscan", "nms")


@dataclass
class Candidates:
    """Per-cell boxes above the coverage threshold (network-input pixels)."""

    boxes: npt.NDArray[np.float32]  # (N, 4)
    scores: npt.NDArray[np.float32]  # (N,) coverage
    class_ids: npt.NDArray[np.int32]  # (N,)

    def __len__(self) -> int:
        return int(self.scores.shape[0])


@dataclass
class Detections:
    """Clustered detections; ``scores`` are in [0, 1]."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    class_ids: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @staticmethod
    def empty() -> Detections:
        """No detections."""
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))


@dataclass(frozen=True)
class ClusterConfig:
    """Clustering flavour and its thresholds (ROS parameters of the detector)."""

    method: ClusterMethod = "deepstream_dbscan"
    #: coverage a grid cell needs to become a candidate (DeepStream pre-cluster-threshold,
    #: TAO coverage_threshold)
    coverage_threshold: float = 0.4
    #: DBSCAN neighbourhood: two boxes are neighbours when 1 - IoU < eps (DeepStream) / <= eps (TAO)
    eps: float = 0.7
    #: DeepStream: a box is a core box when neighbours + 1 >= min_boxes
    min_boxes: int = 1
    #: TAO: a box is a core box when the summed coverage of its neighbourhood >= min_samples
    min_samples: float = 0.05
    #: TAO: keep a cluster when its aggregated coverage > confidence_threshold
    confidence_threshold: float = 0.9
    #: TAO: keep a cluster when its height (network pixels) >= min_height
    min_height: float = 0.0
    #: NMS: suppress boxes overlapping a better one by more than this IoU
    nms_iou: float = 0.5
    #: keep at most this many detections per class (best first); 0 keeps all
    top_k: int = 4


def decode(
    cov: npt.NDArray[np.floating],
    bbox: npt.NDArray[np.floating],
    *,
    threshold: float,
    stride: int = 16,
    bbox_scale: float = 35.0,
    offset: float = 0.5,
    input_size: tuple[int, int] | None = None,
) -> Candidates:
    """Decode one image's ``cov`` [C, H, W] and ``bbox`` [4C, H, W] grids into candidates.

    ``input_size`` is the network input (width, height) to clip to; default grid x stride.
    Cells with non-finite coverage or box values are ignored (a broken model must not produce
    boxes).
    """
    cov = np.asarray(cov)
    bbox = np.asarray(bbox)
    if cov.ndim != 3 or bbox.ndim != 3:
        raise ModelError(f"expected cov [C,H,W] and bbox [4C,H,W], got {cov.shape} and {bbox.shape}")
    n_cls, gh, gw = cov.shape
    if bbox.shape != (4 * n_cls, gh, gw):
        raise ModelError(
            f"bbox grid {bbox.shape} does not match coverage grid {cov.shape} (expected {(4 * n_cls, gh, gw)})"
        )
    w_in, h_in = input_size if input_size is not None else (gw * stride, gh * stride)
    # a zero-coverage cell carries no evidence (and no weight to average its box with)
    c_idx, r_idx, k_idx = np.nonzero((cov >= threshold) & (cov > 0))
    if c_idx.size == 0:
        return Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))
    # coverage is a probability (sigmoid); a model that outputs more is clipped, not trusted
    scores = np.minimum(cov[c_idx, r_idx, k_idx], 1.0).astype(np.float32)
    b = bbox.reshape(n_cls, 4, gh, gw)[c_idx, :, r_idx, k_idx].astype(np.float32)  # (N, 4)
    cx = (stride * k_idx + offset).astype(np.float32)
    cy = (stride * r_idx + offset).astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite boxes are dropped below
        boxes = np.stack(
            [
                cx - bbox_scale * b[:, 0],
                cy - bbox_scale * b[:, 1],
                cx + bbox_scale * b[:, 2],
                cy + bbox_scale * b[:, 3],
            ],
            axis=1,
        )
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    np.clip(boxes[:, 0::2], 0, w_in, out=boxes[:, 0::2])
    np.clip(boxes[:, 1::2], 0, h_in, out=boxes[:, 1::2])
    keep = finite & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return Candidates(boxes[keep], scores[keep], c_idx[keep].astype(np.int32))


def _dbscan_labels(
    adj: npt.NDArray[np.bool_], core: npt.NDArray[np.bool_], iou: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Cluster labels (-1 = noise) from a neighbour matrix and the core mask.

    Core boxes connected through core neighbours share a cluster; a border box joins the
    cluster of its best-overlapping core neighbour (deterministic, unlike visit order).
    """
    n = adj.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    core_adj = adj & core[None, :] & core[:, None]
    next_label = 0
    for seed in np.nonzero(core)[0]:
        if labels[seed] >= 0:
            continue
        frontier = np.zeros(n, dtype=bool)
        frontier[seed] = True
        members = frontier.copy()
        while frontier.any():
            reached = core_adj[frontier].any(axis=0) & ~members
            members |= reached
            frontier = reached
        labels[members] = next_label
        next_label += 1
    border = ~core & (adj & core[None, :]).any(axis=1)
    if border.any():
        masked = np.where(adj & core[None, :], iou, -1.0)
        best = masked.argmax(axis=1)
        labels[border] = labels[best[border]]
    return labels


def _cluster_one_class(
    boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], cfg: ClusterConfig
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    if boxes.shape[0] == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    iou = iou_matrix(boxes, boxes)
    dist = 1.0 - iou
    if cfg.method == "nms":
        order = np.argsort(-scores, kind="stable")
        keep: list[int] = []
        suppressed = np.zeros(boxes.shape[0], dtype=bool)
        for i in order:
            if suppressed[i]:
                continue
            keep.append(int(i))
            suppressed |= iou[i] > cfg.nms_iou
        idx = np.asarray(keep, dtype=np.int64)
        return boxes[idx], scores[idx]
    if cfg.method == "deepstream_dbscan":
        adj = dist < cfg.eps
        np.fill_diagonal(adj, False)
        core = adj.sum(axis=1) + 1 >= cfg.min_boxes
    elif cfg.method == "tao_dbscan":
        adj = dist <= cfg.eps
        np.fill_diagonal(adj, True)
        core = (adj * scores[None, :].astype(np.float64)).sum(axis=1) >= cfg.min_samples
        np.fill_diagonal(adj, False)
    else:  # pragma: no cover - validated by ClusterConfig users
        raise ValueError(f"unknown clustering method {cfg.method!r}")
    labels = _dbscan_labels(adj, core, iou)
    n_clusters = int(labels.max()) + 1 if labels.size else 0
    if n_clusters == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    valid = labels >= 0
    lab = labels[valid]
    w = scores[valid].astype(np.float64)
    wsum = np.bincount(lab, weights=w, minlength=n_clusters)
    out_boxes = (
        np.stack([np.bincount(lab, weights=w * boxes[valid, j], minlength=n_clusters) for j in range(4)], axis=1)
        / wsum[:, None]
    )
    if cfg.method == "deepstream_dbscan":
        conf = np.full(n_clusters, -np.inf)
        np.maximum.at(conf, lab, w)
    else:
        conf = wsum
        heights = out_boxes[:, 3] - out_boxes[:, 1]
        keep_mask = (conf > cfg.confidence_threshold) & (heights >= cfg.min_height)
        out_boxes, conf = out_boxes[keep_mask], conf[keep_mask]
    return out_boxes.astype(np.float32), np.clip(conf, 0.0, 1.0).astype(np.float32)


def cluster(cands: Candidates, cfg: ClusterConfig) -> Detections:
    """Cluster candidates per class; results sorted by class then descending score."""
    if cfg.method not in CLUSTER_METHODS:
        raise ValueError(f"unknown clustering method {cfg.method!r} (use one of {', '.join(CLUSTER_METHODS)})")
    all_boxes: list[npt.NDArray[np.float32]] = []
    all_scores: list[npt.NDArray[np.float32]] = []
    all_cls: list[npt.NDArray[np.int32]] = []
    for c in np.unique(cands.class_ids):
        m = cands.class_ids == c
        b, s = _cluster_one_class(cands.boxes[m], cands.scores[m], cfg)
        order = np.argsort(-s, kind="stable")
        if cfg.top_k > 0:
            order = order[: cfg.top_k]
        all_boxes.append(b[order])
        all_scores.append(s[order])
        all_cls.append(np.full(order.size, c, dtype=np.int32))
    if not all_boxes:
        return Detections.empty()
    return Detections(np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_cls))

"""DetectNet_v2 decoding and the three clustering flavours on tensors computed by hand."""

import numpy as np
import pytest

from gesture_ros.core.detectnet import Candidates, ClusterConfig, cluster, decode
from gesture_ros.core.errors import ModelError


def _grid(n_cls: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n_cls, h, w), np.float32), np.zeros((4 * n_cls, h, w), np.float32)


def test_decode_one_cell_by_hand() -> None:
    cov, bbox = _grid(1, 2, 3)
    cov[0, 1, 2] = 0.9
    bbox[:, 1, 2] = [0.1, 0.2, 0.3, 0.4]
    cov[0, 0, 0] = 0.3  # below threshold
    c = decode(cov, bbox, threshold=0.5)
    # cx = 16*2 + 0.5 = 32.5, cy = 16*1 + 0.5 = 16.5; x1 = 32.5 - 35*0.1 ...
    np.testing.assert_allclose(c.boxes, [[29.0, 9.5, 43.0, 30.5]], atol=1e-5)
    np.testing.assert_allclose(c.scores, [0.9])
    assert c.class_ids.tolist() == [0]


def test_decode_clips_to_the_network_input() -> None:
    cov, bbox = _grid(1, 2, 3)
    cov[0, 0, 1] = 0.6
    bbox[:, 0, 1] = 2.0  # 70 px each way from (16.5, 0.5)
    c = decode(cov, bbox, threshold=0.5)
    np.testing.assert_allclose(c.boxes, [[0.0, 0.0, 48.0, 32.0]])
    c2 = decode(cov, bbox, threshold=0.5, input_size=(40, 20))
    np.testing.assert_allclose(c2.boxes, [[0.0, 0.0, 40.0, 20.0]])


def test_decode_uses_the_class_slice_of_the_bbox_grid() -> None:
    cov, bbox = _grid(2, 1, 1)
    cov[1, 0, 0] = 0.8
    bbox[4:8, 0, 0] = [0.0, 0.0, 0.2, 0.2]  # class 1 uses channels 4..7
    bbox[0:4, 0, 0] = 5.0  # class 0 values must not leak in
    c = decode(cov, bbox, threshold=0.5, stride=16, bbox_scale=35.0, offset=0.5)
    assert c.class_ids.tolist() == [1]
    np.testing.assert_allclose(c.boxes, [[0.5, 0.5, 7.5, 7.5]], atol=1e-5)


def test_decode_threshold_is_inclusive_and_custom_geometry() -> None:
    cov, bbox = _grid(1, 1, 2)
    cov[0, 0, 1] = 0.5
    bbox[:, 0, 1] = 1.0
    c = decode(cov, bbox, threshold=0.5, stride=8, bbox_scale=2.0, offset=0.0)
    np.testing.assert_allclose(c.boxes, [[6.0, 0.0, 10.0, 2.0]])


def test_decode_ignores_non_finite_values() -> None:
    cov, bbox = _grid(1, 1, 3)
    cov[0, 0, :] = [np.nan, 0.9, 0.9]
    bbox[:, 0, 1] = 0.1
    bbox[0, 0, 2] = np.inf
    c = decode(cov, bbox, threshold=0.5)
    assert len(c) == 1 and np.isfinite(c.boxes).all()


def test_decode_rejects_mismatched_grids() -> None:
    with pytest.raises(ModelError, match="does not match"):
        decode(np.zeros((1, 2, 3)), np.zeros((4, 2, 4)), threshold=0.5)


A, B, C = [0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]


def _cands(boxes: list[list[float]], scores: list[float], cls: list[int] | None = None) -> Candidates:
    return Candidates(
        np.array(boxes, np.float32), np.array(scores, np.float32), np.array(cls or [0] * len(scores), np.int32)
    )


def test_deepstream_dbscan_weighted_mean_box_and_max_confidence() -> None:
    # IoU(A, B) = 90 / 110 = 0.818 -> distance 0.18 < eps; C is far away.
    d = cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), ClusterConfig("deepstream_dbscan", eps=0.7, min_boxes=1))
    np.testing.assert_allclose(d.boxes, [[0.4, 0.0, 10.4, 10.0], C], atol=1e-5)
    np.testing.assert_allclose(d.scores, [0.9, 0.8])


def test_deepstream_dbscan_min_boxes_drops_lonely_boxes() -> None:
    d = cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), ClusterConfig("deepstream_dbscan", eps=0.7, min_boxes=2))
    np.testing.assert_allclose(d.boxes, [[0.4, 0.0, 10.4, 10.0]], atol=1e-5)


def test_dbscan_border_boxes_join_their_core_neighbour() -> None:
    # IoU(P,Q) = IoU(Q,R) = 70/130 -> distance 0.46 < 0.7; IoU(P,R) = 40/160 -> 0.75 (not neighbours).
    P, Q, R = [0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]
    d = cluster(_cands([P, Q, R], [1.0, 1.0, 1.0]), ClusterConfig("deepstream_dbscan", eps=0.7, min_boxes=3))
    np.testing.assert_allclose(d.boxes, [[3.0, 0.0, 13.0, 10.0]], atol=1e-5)
    assert len(d) == 1


def test_tao_dbscan_sums_coverage_and_applies_its_thresholds() -> None:
    cfg = ClusterConfig("tao_dbscan", eps=0.3, min_samples=1.0, confidence_threshold=0.9)
    d = cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), cfg)
    # A+B: coverage sum 1.5 >= min_samples (core), aggregate 1.5 > 0.9 (kept, reported clipped to 1).
    # C: 0.8 < min_samples -> noise.
    np.testing.assert_allclose(d.boxes, [[0.4, 0.0, 10.4, 10.0]], atol=1e-5)
    np.testing.assert_allclose(d.scores, [1.0])
    from dataclasses import replace

    assert len(cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), replace(cfg, confidence_threshold=1.6))) == 0
    assert len(cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), replace(cfg, min_height=11.0))) == 0
    low = cluster(_cands([A, B, C], [0.9, 0.6, 0.8]), replace(cfg, min_samples=0.5, confidence_threshold=0.5))
    np.testing.assert_allclose(low.scores, [1.0, 0.8])


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    d = cluster(_cands([B, A, C], [0.6, 0.9, 0.8]), ClusterConfig("nms", nms_iou=0.5))
    np.testing.assert_allclose(d.boxes, [A, C])
    np.testing.assert_allclose(d.scores, [0.9, 0.8])
    d2 = cluster(_cands([B, A, C], [0.6, 0.9, 0.8]), ClusterConfig("nms", nms_iou=0.9))
    assert len(d2) == 3


def test_classes_cluster_separately_and_top_k() -> None:
    d = cluster(_cands([A, B, C], [0.9, 0.6, 0.8], [0, 1, 0]), ClusterConfig("nms", nms_iou=0.5, top_k=1))
    assert d.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(d.boxes, [A, B])


def test_unknown_method_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown clustering"):
        cluster(_cands([A], [1.0]), ClusterConfig("kmeans"))  # type: ignore[arg-type]


def test_empty_input() -> None:
    assert len(cluster(_cands([], []), ClusterConfig())) == 0

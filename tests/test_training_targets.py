"""Training targets are the exact inverse of the runtime decoder (one convention, both ways)."""

import numpy as np

from gesture_ros.core.detectnet import ClusterConfig, cluster, decode
from gesture_ros.training.targets import rasterise


def test_rasterised_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array([[40, 30, 120, 110], [300, 60, 360, 200], [10, 150, 60, 190]], np.float32)
    cov, bbox = rasterise(boxes, np.array([0, 0, 0]), 1, (16, 32), cov_radius=0.5)
    assert cov.shape == (1, 16, 32) and bbox.shape == (4, 16, 32)
    cands = decode(cov, bbox, threshold=0.5, input_size=(512, 256))
    # every coverage cell of an object decodes to exactly that object's box
    np.testing.assert_allclose(np.unique(cands.boxes.round(3), axis=0), np.unique(boxes, axis=0), atol=1e-3)
    dets = cluster(cands, ClusterConfig("deepstream_dbscan", eps=0.3, min_boxes=1))
    np.testing.assert_allclose(dets.boxes[np.argsort(dets.boxes[:, 0])], boxes[np.argsort(boxes[:, 0])], atol=1e-3)


def test_small_objects_get_at_least_one_cell_and_win_shared_cells() -> None:
    big = [0, 0, 256, 256]
    small = [100, 100, 112, 112]  # smaller than a cell
    cov, bbox = rasterise(np.array([big, small], np.float32), np.array([0, 0]), 1, (16, 16))
    cands = decode(cov, bbox, threshold=0.5)
    decoded = {tuple(b) for b in cands.boxes.round(2).tolist()}
    assert tuple(map(float, small)) in decoded and tuple(map(float, big)) in decoded

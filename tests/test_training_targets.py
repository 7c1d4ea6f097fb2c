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


def test_giou_of_cell_distances_is_the_giou_of_the_decoded_boxes() -> None:
    """The loss's GIoU, computed from each cell's four distances, equals the GIoU of the two
    boxes the runtime would decode from them (targets from ``rasterise``, predictions perturbed,
    some inverted), and it is scale-free: the same relative error costs a small box what it
    costs a big one."""
    import pytest

    torch = pytest.importorskip("torch")
    from gesture_ros.training.train_detector import giou_of_distances

    boxes = np.array([[40, 30, 120, 110], [300, 60, 330, 90], [10, 150, 60, 190]], np.float32)
    cov, bbox = rasterise(boxes, np.array([0, 0, 0]), 1, (16, 32), cov_radius=0.5)
    rng = np.random.default_rng(0)
    pred = (bbox + rng.normal(0, 0.4, bbox.shape)).astype(np.float32)
    got = giou_of_distances(torch.from_numpy(pred)[None], torch.from_numpy(bbox)[None])[0, 0].numpy()

    def decoded(d: np.ndarray, r: int, c: int) -> np.ndarray:
        cx, cy = 16 * c + 0.5, 16 * r + 0.5
        return np.array([cx - 35 * d[0, r, c], cy - 35 * d[1, r, c], cx + 35 * d[2, r, c], cy + 35 * d[3, r, c]])

    def giou(a: np.ndarray, b: np.ndarray) -> float:
        area = lambda x: max(0.0, x[2] - x[0]) * max(0.0, x[3] - x[1])  # noqa: E731
        inter = area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
        union = area(a) + area(b) - inter
        hull = area([min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])])
        return inter / union - (hull - union) / hull

    cells = np.argwhere(cov[0] > 0)
    assert len(cells) >= 3
    for r, c in cells:
        assert got[r, c] == pytest.approx(giou(decoded(pred, r, c), decoded(bbox, r, c)), abs=1e-4)
    one = torch.tensor([1.0, 1.0, 1.0, 1.0]).reshape(1, 4, 1, 1)
    for scale in (0.2, 5.0):  # 20 % wider, at two sizes
        wider = one * scale * torch.tensor([1.2, 1.0, 1.2, 1.0]).reshape(1, 4, 1, 1)
        assert giou_of_distances(wider, one * scale).item() == pytest.approx(1 / 1.2, abs=1e-5)

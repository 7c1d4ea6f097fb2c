"""DetectNet_v2 training targets, rasterised the way TAO does it.

For each object, grid cells whose centre lies inside an ellipse around the box centre
(semi-axes ``cov_radius`` x half the box size, at least ``bbox_min_radius`` cells) get coverage
1 and bbox targets ``(cx - x1, cy - y1, x2 - cx, y2 - cy) / bbox_scale`` with the cell centre
``(stride * col + offset, stride * row + offset)`` - the exact inverse of the runtime decoder.
Smaller objects are drawn last so they win shared cells.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def rasterise(
    boxes: npt.NDArray[np.float32],
    class_ids: npt.NDArray[np.int64],
    num_classes: int,
    grid: tuple[int, int],
    *,
    stride: int = 16,
    bbox_scale: float = 35.0,
    offset: float = 0.5,
    cov_radius: float = 0.5,
    bbox_min_radius: float = 1.0,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Return ``cov`` [C, H, W] and ``bbox`` [4C, H, W] targets for boxes in network pixels."""
    gh, gw = grid
    cov = np.zeros((num_classes, gh, gw), np.float32)
    bbox = np.zeros((4 * num_classes, gh, gw), np.float32)
    if len(boxes) == 0:
        return cov, bbox
    cx_grid = stride * np.arange(gw, dtype=np.float32) + offset
    cy_grid = stride * np.arange(gh, dtype=np.float32) + offset
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in np.argsort(-areas):
        x1, y1, x2, y2 = boxes[i]
        c = int(class_ids[i])
        bx, by = (x1 + x2) / 2, (y1 + y2) / 2
        rx = max(cov_radius * (x2 - x1) / 2, bbox_min_radius * stride)
        ry = max(cov_radius * (y2 - y1) / 2, bbox_min_radius * stride)
        inside = ((cx_grid[None, :] - bx) / rx) ** 2 + ((cy_grid[:, None] - by) / ry) ** 2 <= 1.0
        if not inside.any():
            continue
        cov[c][inside] = 1.0
        gx = np.broadcast_to(cx_grid[None, :], (gh, gw))[inside]
        gy = np.broadcast_to(cy_grid[:, None], (gh, gw))[inside]
        bbox[4 * c + 0][inside] = (gx - x1) / bbox_scale
        bbox[4 * c + 1][inside] = (gy - y1) / bbox_scale
        bbox[4 * c + 2][inside] = (x2 - gx) / bbox_scale
        bbox[4 * c + 3][inside] = (y2 - gy) / bbox_scale
    return cov, bbox

"""KITTI label files: ``<class> 0 0 0 x1 y1 x2 y2 ...`` one object per line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt


def read_kitti(path: Path) -> tuple[npt.NDArray[np.float32], tuple[str, ...]]:
    """Boxes (N,4) x1,y1,x2,y2 and class names; a missing file means no objects."""
    boxes, names = [], []
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) < 8:
                continue
            names.append(parts[0])
            boxes.append([float(v) for v in parts[4:8]])
    return np.asarray(boxes, np.float32).reshape(-1, 4), tuple(names)

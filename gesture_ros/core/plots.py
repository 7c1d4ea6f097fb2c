"""PR curves and confusion matrices as PNG, drawn with OpenCV (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

_COLOURS = [(200, 80, 0), (0, 140, 255), (60, 160, 60), (180, 0, 180), (0, 0, 200)]


def pr_curve_png(
    path: Path, curves: dict[str, tuple[list[float], list[float], float]], size: tuple[int, int] = (560, 440)
) -> None:
    """``curves[name] = (precision, recall, ap)``; recall on x, precision on y."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 60, 20, w - 20, h - 50
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    for t in np.linspace(0, 1, 6):
        xt, yt = int(x0 + t * (x1 - x0)), int(y1 - t * (y1 - y0))
        cv2.putText(img, f"{t:.1f}", (xt - 10, y1 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{t:.1f}", (x0 - 32, yt + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "recall", ((x0 + x1) // 2 - 20, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "precision", (4, y0 + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for k, (name, (prec, rec, ap)) in enumerate(curves.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        if rec:
            pts = np.array([[x0 + r * (x1 - x0), y1 - p * (y1 - y0)] for p, r in zip(prec, rec, strict=True)], np.int32)
            cv2.polylines(img, [pts], False, colour, 2, cv2.LINE_AA)
        cv2.putText(
            img,
            f"{name}: AP {ap:.3f}",
            (x0 + 10, y1 - 12 - 18 * k),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def confusion_png(path: Path, matrix: npt.ArrayLike, rows: list[str], cols: list[str], cell: int = 56) -> None:
    """Counts with row-normalised shading; rows = truth, columns = prediction."""
    m = np.asarray(matrix, dtype=np.float64)
    left, top = 110, 110
    h, w = top + cell * len(rows) + 10, left + cell * len(cols) + 10
    img = np.full((h, w, 3), 255, np.uint8)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    for i in range(len(rows)):
        for j in range(len(cols)):
            shade = int(255 - 200 * norm[i, j])
            x, y = left + j * cell, top + i * cell
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (255, shade, shade), -1)
            cv2.rectangle(img, (x, y), (x + cell, y + cell), (160, 160, 160), 1)
            cv2.putText(
                img,
                str(int(m[i, j])),
                (x + 8, y + cell // 2 + 5),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
    for i, name in enumerate(rows):
        cv2.putText(
            img,
            name[:12],
            (4, top + i * cell + cell // 2 + 5),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    for j, name in enumerate(cols):
        org = (left + j * cell + cell // 2, top - 8)
        txt = np.full((20, 100, 3), 255, np.uint8)
        cv2.putText(txt, name[:12], (2, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        rot = cv2.rotate(txt, cv2.ROTATE_90_COUNTERCLOCKWISE)
        img[org[1] - 100 : org[1], org[0] - 10 : org[0] + 10] = np.minimum(
            img[org[1] - 100 : org[1], org[0] - 10 : org[0] + 10], rot
        )
    cv2.putText(img, "truth \\ predicted", (4, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def histogram_png(
    path: Path, labels: list[str], counts: list[int], xlabel: str, size: tuple[int, int] = (640, 360)
) -> None:
    """Bar chart of pre-binned counts (dataset reports)."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    x0, y0, x1, y1 = 50, 20, w - 10, h - 60
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 0, 0), 1)
    top = max(1, max(counts, default=1))
    bw = (x1 - x0) / max(1, len(counts))
    for i, (name, c) in enumerate(zip(labels, counts, strict=True)):
        bx0, bx1 = int(x0 + i * bw + 3), int(x0 + (i + 1) * bw - 3)
        by = int(y1 - (y1 - y0 - 14) * c / top)
        cv2.rectangle(img, (bx0, by), (bx1, y1), _COLOURS[0], -1)
        cv2.putText(img, str(c), (bx0, by - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, name, (bx0, y1 + 16 + 14 * (i % 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, xlabel, ((x0 + x1) // 2 - 40, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)

"""GestureNet output post-processing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class GestureResult:
    """The winning class of one crop and the probabilities of all classes."""

    class_id: int
    label: str
    confidence: float
    scores: npt.NDArray[np.float32]  # (K,) probabilities in label order


def softmax(logits: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Row-wise softmax, computed in float64 so large logits do not overflow."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def postprocess(
    outputs: npt.ArrayLike, labels: tuple[str, ...], is_probability: bool = True
) -> list[GestureResult | None]:
    """One result per row of ``outputs`` ``(N, K)``; ``None`` for rows with NaN/inf (counted by callers)."""
    out = np.asarray(outputs, dtype=np.float32).reshape(-1, len(labels))
    probs = out if is_probability else softmax(out)
    results: list[GestureResult | None] = []
    for row in probs:
        if not np.isfinite(row).all():
            results.append(None)
            continue
        k = int(np.argmax(row))
        results.append(GestureResult(k, labels[k], float(row[k]), row.astype(np.float32)))
    return results

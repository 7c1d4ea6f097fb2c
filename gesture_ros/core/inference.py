"""The inference interface the core runs models through, and the start-up model check.

The protocol and :func:`check_io` live in the core (not in ``backends``) so that the
dependencies point down: backends implement the protocol, the core never imports a backend.
Every failure of the check is a :class:`ModelError` with one message that names both sides
(the model file and ``config/models.yaml``), which a node logs instead of a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from .errors import ModelError


@dataclass(frozen=True)
class TensorInfo:
    """A model tensor; dimensions that are dynamic are ``-1``."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


@runtime_checkable
class InferenceBackend(Protocol):
    """What the core needs of a backend: its tensors, and one call per batch.

    Backends live in :mod:`gesture_ros.backends` and implement this structurally; the core
    never imports them, so the maths runs on any object with these members (a test double, a
    user's own runtime).
    """

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's input tensors."""
        ...

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's output tensors."""
        ...

    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Run the batch in ``feeds`` (batch axis first) and return every output by name."""
        ...

    def close(self) -> None:
        """Release resources (sessions, device buffers, connections)."""
        ...


def _dims_match(actual: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    if len(actual) != len(expected):
        return False
    return all(a < 0 or e < 0 or a == e for a, e in zip(actual, expected, strict=True))


def check_io(
    backend: InferenceBackend,
    model_file: str,
    input_name: str,
    input_shape: tuple[int, ...],
    outputs: dict[str, tuple[int, ...]],
) -> None:
    """Raise :class:`ModelError` when the model's tensors disagree with the description.

    Shapes exclude the batch axis; ``-1`` in ``outputs`` means any size. The batch axis itself
    must be dynamic or 1: a model built for a fixed batch of 2 would load and then fail on
    every frame.
    """
    ins = {t.name: t for t in backend.inputs}
    if input_name not in ins:
        raise ModelError(
            f"{model_file}: the model description names input '{input_name}' but the model has {sorted(ins)}"
        )
    batch = ins[input_name].shape[0] if ins[input_name].shape else -1
    if batch > 1:  # the nodes send one frame, or crops one at a time to a fixed-batch model
        raise ModelError(
            f"{model_file}: input '{input_name}' has a fixed batch of {batch}; the nodes send one frame at a time "
            "(and crops one by one to a fixed-batch classifier): use batch 1 or a dynamic batch axis"
        )
    got = ins[input_name].shape[1:]
    if not _dims_match(got, input_shape):
        raise ModelError(
            f"{model_file}: input '{input_name}' has shape {list(got)} (without batch) in the model "
            f"but {list(input_shape)} in the model description"
        )
    outs = {t.name: t for t in backend.outputs}
    for name, shape in outputs.items():
        if name not in outs:
            raise ModelError(
                f"{model_file}: the model description names output '{name}' but the model has {sorted(outs)}"
            )
        got_o = outs[name].shape[1:]
        if not _dims_match(got_o, shape):
            raise ModelError(
                f"{model_file}: output '{name}' has shape {list(got_o)} (without batch) in the model "
                f"but {list(shape)} is expected from the model description"
            )

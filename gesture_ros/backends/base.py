"""The backend interface and the start-up check that a model matches its description.

A node builds a backend once at start-up; every failure there (file missing, corrupt engine,
tensor names or shapes that disagree with ``config/models.yaml``) is a :class:`ModelError` with
one message that names both sides, which the node logs instead of a stack trace.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError

BACKENDS: tuple[str, ...] = ("onnxruntime", "tensorrt", "triton")


@dataclass(frozen=True)
class TensorInfo:
    """A model tensor; dimensions that are dynamic are ``-1``."""

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"


class InferenceBackend(abc.ABC):
    """Runs one model. Implementations load in ``__init__`` and raise :class:`ModelError`."""

    name: str = "backend"
    #: set by ``__init__`` (or on connection, for a remote backend)
    _inputs: list[TensorInfo]
    _outputs: list[TensorInfo]

    @property
    def inputs(self) -> list[TensorInfo]:
        return self._inputs

    @property
    def outputs(self) -> list[TensorInfo]:
        return self._outputs

    @abc.abstractmethod
    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Run the batch in ``feeds`` (batch axis first) and return every output by name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sessions, device buffers, connections)."""

    def __enter__(self) -> InferenceBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
        raise ModelError(f"{model_file}: the model description names input '{input_name}' but the model has {sorted(ins)}")
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
            raise ModelError(f"{model_file}: the model description names output '{name}' but the model has {sorted(outs)}")
        got_o = outs[name].shape[1:]
        if not _dims_match(got_o, shape):
            raise ModelError(
                f"{model_file}: output '{name}' has shape {list(got_o)} (without batch) in the model "
                f"but {list(shape)} is expected from the model description"
            )


def existing_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{what} not found: {p}")
    return p


def create_backend(kind: str, model_file: str | Path, **options: Any) -> InferenceBackend:
    """Build a backend by name; unknown names and load failures raise :class:`ModelError`."""
    if kind == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(model_file, **options)
    if kind == "tensorrt":
        from .tensorrt_backend import TensorRTBackend

        return TensorRTBackend(model_file, **options)
    if kind == "triton":  # model_file is the model's name in the server's repository
        from .triton_backend import TritonBackend

        return TritonBackend(str(model_file), **options)
    raise ModelError(f"unknown backend '{kind}' (use one of: {', '.join(BACKENDS)})")

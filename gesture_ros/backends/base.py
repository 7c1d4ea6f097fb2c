"""The shared part of the shipped backends (tensor lists, context manager, file check).

The interface itself, :class:`~gesture_ros.core.inference.InferenceBackend`, is a protocol in
the core; this base class only saves each backend writing the same members again. It knows
none of its subclasses: they are found by name through :mod:`gesture_ros.backends.registry`.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError
from ..core.inference import TensorInfo


class Backend(abc.ABC):
    """Runs one model. Implementations load in ``__init__`` and raise :class:`ModelError`."""

    name: str = "backend"
    #: set by ``__init__`` (or on connection, for a remote backend)
    _inputs: list[TensorInfo]
    _outputs: list[TensorInfo]

    @property
    def inputs(self) -> list[TensorInfo]:
        """The model's input tensors."""
        return self._inputs

    @property
    def outputs(self) -> list[TensorInfo]:
        """The model's output tensors."""
        return self._outputs

    @abc.abstractmethod
    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Run the batch in ``feeds`` (batch axis first) and return every output by name."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sessions, device buffers, connections)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def existing_file(path: str | Path, what: str) -> Path:
    """The path, or a :class:`ModelError` naming what was looked for when it is not a file."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{what} not found: {p}")
    return p

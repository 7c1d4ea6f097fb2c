"""ONNX Runtime on the CPU: the default backend everywhere without a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError
from ..core.inference import TensorInfo
from .base import Backend, existing_file


def _shape(raw: list[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in raw)


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session of one model (CPU by default; ``providers`` picks others)."""

    name = "onnxruntime"

    def __init__(
        self, model_file: str | Path, threads: int = 0, providers: list[str] | None = None, spinning: bool = False
    ) -> None:
        """``spinning``: let idle pool threads busy-wait for the next run. Off by default: a
        pipeline runs two sessions back to back (detector, classifier), and one session's spinning
        threads take the cores the other needs (measured here: detector + classifier 53 ms per
        frame with spinning, 22 ms without, 2 cores); it also leaves the robot's other processes
        their CPU between frames."""
        import onnxruntime as ort

        path = existing_file(model_file, "ONNX model")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if spinning else "0")
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0][:300]}") from None
        self._inputs = [TensorInfo(i.name, _shape(i.shape)) for i in self._session.get_inputs()]
        self._outputs = [TensorInfo(o.name, _shape(o.shape)) for o in self._session.get_outputs()]
        self._output_names = [o.name for o in self._outputs]

    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Run one batch; a runtime failure is a :class:`ModelError` with ONNX Runtime's first line."""
        try:
            results = self._session.run(self._output_names, {k: np.ascontiguousarray(v) for k, v in feeds.items()})
        except Exception as exc:
            raise ModelError(f"ONNX Runtime inference failed: {str(exc).splitlines()[0][:300]}") from None
        return dict(zip(self._output_names, results, strict=True))

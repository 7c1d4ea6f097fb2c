"""OpenVINO on the CPU: the same ONNX files as ONNX Runtime, compiled by OpenVINO's CPU plugin.

On x86 CPUs this runs the palm-trunk models' 5x5 depthwise convolutions much faster than ONNX
Runtime's CPU provider (the figures are in benchmarks/README.md). The model is compiled once, with
the ONNX file's open dimensions left open (the detector's height and width with
``size_multiple``, the classifier's batch), and one infer request is bound once and reused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError
from ..core.inference import TensorInfo
from .base import Backend, existing_file


def _shape(partial: Any) -> tuple[int, ...]:
    return tuple(-1 if d.is_dynamic else int(d.get_length()) for d in partial)


class OpenVinoBackend(Backend):
    """An OpenVINO compiled model of one ONNX file, on the CPU."""

    name = "openvino"

    def __init__(self, model_file: str | Path, threads: int = 0, device: str = "CPU") -> None:
        """``threads``: inference threads (0: OpenVINO's choice, one stream on the cores it
        finds). Precision is fp32 on every CPU: OpenVINO would otherwise pick bf16 on a CPU with
        AMX, and the outputs would differ from ONNX Runtime's and from the validation figures."""
        try:
            import openvino as ov
        except ImportError:
            raise ModelError(
                "the openvino backend needs the openvino package (pip install openvino; "
                "requirements/runtime.txt pins it)"
            ) from None
        path = existing_file(model_file, "ONNX model")
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            core = ov.Core()
            model = core.read_model(str(path))
            compiled = core.compile_model(model, device, config)
        except Exception as exc:
            raise ModelError(f"cannot load {path.name} with OpenVINO: {str(exc).splitlines()[0][:300]}") from None
        #: what runs the model, as ONNX Runtime's backend says it
        self.provider = f"OpenVINO {device}"
        self._inputs = [TensorInfo(p.get_any_name(), _shape(p.get_partial_shape())) for p in model.inputs]
        self._outputs = [TensorInfo(p.get_any_name(), _shape(p.get_partial_shape())) for p in model.outputs]
        self._ports = list(compiled.outputs)
        self._request = compiled.create_infer_request()

    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Run one batch. The outputs are copied out of the request's buffers, which the next
        call overwrites; a runtime failure is a :class:`ModelError`."""
        try:
            results = self._request.infer({k: np.ascontiguousarray(v) for k, v in feeds.items()})
        except Exception as exc:
            raise ModelError(f"OpenVINO inference failed: {str(exc).splitlines()[0][:300]}") from None
        return {t.name: np.array(results[port]) for t, port in zip(self._outputs, self._ports, strict=True)}

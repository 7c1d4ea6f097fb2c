"""ONNX Runtime on the CPU: the default backend everywhere without a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError
from ..core.inference import TensorInfo
from .base import Backend, existing_file

#: the execution providers a user can name, in ``detector.providers`` / ``classifier.providers``
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
PRECISIONS = ("fp32", "fp16", "int8")


def parse_providers(text: str | list[str] | None) -> list[str]:
    """ONNX Runtime provider names from ``"tensorrt,cuda,cpu"`` (short or full names), CPU last
    when not named: a model always has somewhere to run."""
    items = [p.strip() for p in (text.split(",") if isinstance(text, str) else (text or [])) if p.strip()]
    full = []
    for item in items:
        name = PROVIDERS.get(item.lower(), item if item in PROVIDERS.values() else None)
        if name is None:
            raise ModelError(f"unknown ONNX Runtime execution provider '{item}' (use: {', '.join(PROVIDERS)})")
        if name not in full:
            full.append(name)
    if PROVIDERS["cpu"] not in full:
        full.append(PROVIDERS["cpu"])
    return full


def provider_options(name: str, trt_cache: str = "", precision: str = "fp16") -> dict[str, str]:
    """Options of one provider: the TensorRT EP's engine cache and precision (its documented
    ``trt_*`` keys); the others run with their defaults."""
    if name != PROVIDERS["tensorrt"]:
        return {}
    if precision not in PRECISIONS:
        raise ModelError(f"TensorRT EP precision must be one of {', '.join(PRECISIONS)}, got '{precision}'")
    opts = {"trt_fp16_enable": str(precision in ("fp16", "int8")), "trt_int8_enable": str(precision == "int8")}
    if trt_cache:
        opts |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": trt_cache}
    return opts


def _shape(raw: list[object]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else -1 for d in raw)


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime session of one model (CPU by default; ``providers`` picks others)."""

    name = "onnxruntime"

    def __init__(
        self,
        model_file: str | Path,
        threads: int = 0,
        providers: str | list[str] | None = None,
        spinning: bool = False,
        trt_cache: str = "",
        trt_precision: str = "fp16",
    ) -> None:
        """``providers``: the execution providers to try, in order (``"tensorrt,cuda,cpu"``);
        those not available in this ONNX Runtime are skipped and said once in :attr:`notes`,
        :attr:`provider` is the one that runs the model. ``trt_cache``/``trt_precision``: the
        TensorRT EP's engine cache folder (empty: no cache) and precision.

        ``spinning``: let idle pool threads busy-wait for the next run. Off by default: a
        pipeline runs two sessions back to back (detector, classifier), and one session's spinning
        threads take the cores the other needs; it also leaves the robot's other processes their
        CPU between frames (the measurement is in benchmarks/README.md)."""
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
        wanted = parse_providers(providers)
        available = set(ort.get_available_providers())
        use = [p for p in wanted if p in available]
        #: what a node should say once (a provider asked for that this ONNX Runtime does not have)
        self.notes: list[str] = []
        skipped = [p for p in wanted if p not in available]
        if skipped:
            self.notes.append(
                f"ONNX Runtime execution provider(s) {', '.join(skipped)} not available here (this onnxruntime has "
                f"{', '.join(sorted(available))}); {path.name} runs on {use[0]}"
            )
        try:
            self._session = ort.InferenceSession(
                str(path),
                sess_options=opts,
                providers=[(p, provider_options(p, trt_cache, trt_precision)) for p in use],
            )
        except Exception as exc:
            raise ModelError(f"cannot load ONNX model {path}: {str(exc).splitlines()[0][:300]}") from None
        #: the provider that runs the model (ONNX Runtime may fall back on its own when one fails to start)
        self.provider = self._session.get_providers()[0]
        if self.provider != use[0]:
            self.notes.append(f"{use[0]} could not start for {path.name}; ONNX Runtime runs it on {self.provider}")
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

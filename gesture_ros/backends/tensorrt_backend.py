"""TensorRT 10 engines (Jetson / GPU), with device buffers through cuda-python.

NOT RUN ON THIS PROJECT'S CI: TensorRT cannot be installed on the development machines (no
GPU, no driver). The code follows the TensorRT 10 Python API (named I/O tensors,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``); the import is lazy so the
rest of the package never needs TensorRT, and a missing TensorRT or CUDA is one ModelError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import ModelError
from ..core.inference import TensorInfo
from .base import Backend, existing_file


def _import_cuda() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python
        except ImportError:
            raise ModelError("backend 'tensorrt' needs cuda-python (pip install cuda-python)") from None
    return cudart


def _check(result: Any) -> Any:
    """cuda-python returns (error, value...) tuples; turn errors into ModelError."""
    err, *rest = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise ModelError(f"CUDA call failed: {err}")
    return rest[0] if len(rest) == 1 else rest


class TensorRTBackend(Backend):
    """A TensorRT engine with its device buffers bound once (tao_deploy's inferencer); imported
    lazily, never run here (no GPU)."""

    name = "tensorrt"

    def __init__(self, model_file: str | Path, max_batch: int = 8, **_: Any) -> None:
        try:
            import tensorrt as trt
        except ImportError:
            raise ModelError("backend 'tensorrt' needs the TensorRT Python package (JetPack or pip tensorrt)") from None
        self._trt = trt
        self._cudart = _import_cuda()
        path = existing_file(model_file, "TensorRT engine")
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise ModelError(
                f"cannot deserialize TensorRT engine {path}: corrupt, or built for another GPU / TensorRT version"
            )
        self._engine = engine
        self._context = engine.create_execution_context()
        self._stream = _check(self._cudart.cudaStreamCreate())
        self._inputs: list[TensorInfo] = []
        self._outputs: list[TensorInfo] = []
        self._dtypes: dict[str, np.dtype[Any]] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(int(d) for d in engine.get_tensor_shape(name))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT and min(shape, default=0) < 0:
                # a dimension the ONNX file leaves open is fixed when the engine's profile fixes it
                # (gesture-train engines builds min = max for H and W): say so, so the detector does
                # not send other sizes (NOT RUN here: no TensorRT on this machine)
                lo, _, hi = engine.get_tensor_profile_shape(name, 0)
                shape = tuple(
                    d if d >= 0 or int(a) != int(b) else int(a) for d, a, b in zip(shape, lo, hi, strict=True)
                )
            self._dtypes[name] = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            info = TensorInfo(name, shape, str(self._dtypes[name]))
            (self._inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else self._outputs).append(info)
        self._max_batch = max_batch
        self._device: dict[str, tuple[int, int]] = {}  # name -> (pointer, bytes)

    def _buffer(self, name: str, nbytes: int) -> int:
        ptr, size = self._device.get(name, (0, 0))
        if size < nbytes:
            if ptr:
                _check(self._cudart.cudaFree(ptr))
            ptr = int(_check(self._cudart.cudaMalloc(nbytes)))
            self._device[name] = (ptr, nbytes)
        return ptr

    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """Copy the inputs to the device, execute, copy the outputs back (one stream, synchronised)."""
        cudart = self._cudart
        h2d = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        d2h = cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        for info in self._inputs:
            arr = np.ascontiguousarray(feeds[info.name], dtype=self._dtypes[info.name])
            if not self._context.set_input_shape(info.name, arr.shape):
                raise ModelError(
                    f"TensorRT rejected input shape {arr.shape} for '{info.name}' (outside the engine's profile)"
                )
            ptr = self._buffer(info.name, arr.nbytes)
            _check(cudart.cudaMemcpyAsync(ptr, arr.ctypes.data, arr.nbytes, h2d, self._stream))
            self._context.set_tensor_address(info.name, ptr)
        host: dict[str, npt.NDArray[Any]] = {}
        for info in self._outputs:
            shape = tuple(int(d) for d in self._context.get_tensor_shape(info.name))
            out = np.empty(shape, dtype=self._dtypes[info.name])
            ptr = self._buffer(info.name, out.nbytes)
            self._context.set_tensor_address(info.name, ptr)
            host[info.name] = out
        if not self._context.execute_async_v3(int(self._stream)):
            raise ModelError("TensorRT execution failed")
        for name, out in host.items():
            _check(cudart.cudaMemcpyAsync(out.ctypes.data, self._device[name][0], out.nbytes, d2h, self._stream))
        _check(cudart.cudaStreamSynchronize(self._stream))
        return {k: v.astype(np.float32, copy=False) for k, v in host.items()}

    def close(self) -> None:
        """Free the device buffers and the stream."""
        for ptr, _ in self._device.values():
            self._cudart.cudaFree(ptr)
        self._device.clear()
        if getattr(self, "_stream", None) is not None:
            self._cudart.cudaStreamDestroy(self._stream)
            self._stream = None

"""FAKE `tensorrt` and `cuda.bindings.runtime` modules (TensorRT and CUDA cannot exist here).

They implement only the TensorRT 10 / cuda-python calls that
gesture_ros.backends.tensorrt_backend makes, with "device memory" in host RAM and the "engine"
running an ONNX file in ONNX Runtime. This checks the backend's binding logic (named tensors,
input shapes, addresses, copies, stream sync), not TensorRT itself.
An engine file is ``FAKE_TRT_ENGINE\\n<path to .onnx>\\n<max batch>``.
"""

from __future__ import annotations

import ctypes
import enum
import types
from typing import Any

import numpy as np

MAGIC = b"FAKE_TRT_ENGINE\n"


def make_engine_file(path: Any, onnx_path: Any, max_batch: int = 4, size: tuple[int, int] | None = None) -> None:
    """``size``: (H, W) the profile fixes for inputs whose height and width the ONNX file leaves
    open (as ``gesture-train engines`` builds: min = opt = max)."""
    fixed = f"\n{size[0]}x{size[1]}" if size else ""
    path.write_bytes(MAGIC + f"{onnx_path}\n{max_batch}{fixed}".encode())


def cuda_module() -> types.ModuleType:
    mod = types.ModuleType("cuda.bindings.runtime")
    buffers: dict[int, np.ndarray] = {}

    class cudaMemcpyKind(enum.IntEnum):  # noqa: N801 - the real name
        cudaMemcpyHostToDevice = 1  # noqa: N815 - the real name
        cudaMemcpyDeviceToHost = 2  # noqa: N815

    def cudaMalloc(n: int) -> tuple[int, int]:
        buf = np.zeros(n, np.uint8)
        ptr = buf.ctypes.data
        buffers[ptr] = buf
        return 0, ptr

    def cudaFree(ptr: int) -> tuple[int]:
        buffers.pop(ptr, None)
        return (0,)

    def cudaMemcpyAsync(dst: int, src: int, n: int, kind: int, stream: int) -> tuple[int]:
        ctypes.memmove(dst, src, n)
        return (0,)

    mod.cudaMemcpyKind = cudaMemcpyKind  # type: ignore[attr-defined]
    mod.cudaMalloc = cudaMalloc  # type: ignore[attr-defined]
    mod.cudaFree = cudaFree  # type: ignore[attr-defined]
    mod.cudaMemcpyAsync = cudaMemcpyAsync  # type: ignore[attr-defined]
    mod.cudaStreamCreate = lambda: (0, 7)  # type: ignore[attr-defined]
    mod.cudaStreamSynchronize = lambda s: (0,)  # type: ignore[attr-defined]
    mod.cudaStreamDestroy = lambda s: (0,)  # type: ignore[attr-defined]
    mod.buffers = buffers  # type: ignore[attr-defined]
    return mod


def tensorrt_module() -> types.ModuleType:
    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")

    class TensorIOMode(enum.Enum):
        INPUT = 1
        OUTPUT = 2

    class DataType(enum.Enum):
        FLOAT = 0

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            self.level = level

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine
            self.shapes: dict[str, tuple[int, ...]] = {}
            self.addresses: dict[str, int] = {}

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            if shape[0] > self.engine.max_batch or tuple(shape[1:]) != self.engine.profile[name][1:]:
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            batch = next(iter(self.shapes.values()))[0]
            shape = (batch, *self.engine.shapes[name][1:])
            if min(shape) < 0:  # an output the ONNX file leaves open: what these inputs give
                feeds = {n: np.zeros(s, np.float32) for n, s in self.shapes.items()}
                shape = self.engine.session.run([name], feeds)[0].shape
            return tuple(shape)

        def set_tensor_address(self, name: str, ptr: int) -> None:
            self.addresses[name] = ptr

        def execute_async_v3(self, stream: int) -> bool:
            feeds = {}
            for name in self.engine.inputs:
                shape = self.shapes[name]
                n = int(np.prod(shape))
                feeds[name] = (
                    np.ctypeslib.as_array((ctypes.c_float * n).from_address(self.addresses[name])).reshape(shape).copy()
                )
            outs = self.engine.session.run(self.engine.outputs, feeds)
            for name, arr in zip(self.engine.outputs, outs, strict=True):
                a = np.ascontiguousarray(arr, np.float32)
                ctypes.memmove(self.addresses[name], a.ctypes.data, a.nbytes)
            return True

    class Engine:
        def __init__(self, onnx_path: str, max_batch: int, size: tuple[int, ...] | None = None) -> None:
            self.session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            self.max_batch = max_batch
            self.inputs = [i.name for i in self.session.get_inputs()]
            self.outputs = [o.name for o in self.session.get_outputs()]
            self.shapes = {
                t.name: tuple(-1 if not isinstance(d, int) else d for d in t.shape)
                for t in [*self.session.get_inputs(), *self.session.get_outputs()]
            }
            # profile 0: batch 1..max_batch; open input dims fixed to ``size`` (H, W), else unbuilt
            self.profile = {
                n: tuple(s if s >= 0 else (size[i - 2] if size and i >= 2 else 0) for i, s in enumerate(self.shapes[n]))
                for n in self.inputs
            }
            self.names = self.inputs + self.outputs

        def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
            top = (self.max_batch, *self.profile[name][1:])
            return [(1, *self.profile[name][1:]), top, top]

        @property
        def num_io_tensors(self) -> int:
            return len(self.names)

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shapes[name]

        def get_tensor_dtype(self, name: str) -> DataType:
            return DataType.FLOAT

        def get_tensor_mode(self, name: str) -> TensorIOMode:
            return TensorIOMode.INPUT if name in self.inputs else TensorIOMode.OUTPUT

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
            if not data.startswith(MAGIC):
                return None
            path, batch, *size = data[len(MAGIC) :].decode().split("\n")
            return Engine(path, int(batch), tuple(int(v) for v in size[0].split("x")) if size else None)

    # --- builder side: records what the engine step asks for; "builds" a fake engine file ---
    class BuilderFlag(enum.Enum):
        FP16 = 1
        INT8 = 2

    class MemoryPoolType(enum.Enum):
        WORKSPACE = 0

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    class Network:
        def __init__(self) -> None:
            self.onnx: str | None = None

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network = network
            self.num_errors = 0

        def parse_from_file(self, path: str) -> bool:
            try:
                ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            except Exception as exc:
                self.num_errors, self.error = 1, str(exc)
                return False
            self.network.onnx = path
            return True

        def get_error(self, i: int) -> str:
            return self.error

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: set[BuilderFlag] = set()
            self.pools: dict[MemoryPoolType, int] = {}
            self.profiles: list[Profile] = []
            self.int8_calibrator: Any = None

        def set_flag(self, flag: BuilderFlag) -> None:
            self.flags.add(flag)

        def set_memory_pool_limit(self, pool: MemoryPoolType, size: int) -> None:
            self.pools[pool] = size

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

    class Builder:
        last: dict[str, Any] = {}

        def __init__(self, logger: Logger) -> None:
            pass

        def create_network(self, flags: int) -> Network:
            return Network()

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            cal = config.int8_calibrator
            Builder.last = {
                "network": network,
                "config": config,
                "cache": cal.read_calibration_cache() if cal else None,
            }
            max_batch = max(hi[0] for p in config.profiles for _, _, hi in p.shapes.values())
            return MAGIC + f"{network.onnx}\n{max_batch}".encode()

    trt.Builder = Builder  # type: ignore[attr-defined]
    trt.OnnxParser = OnnxParser  # type: ignore[attr-defined]
    trt.BuilderFlag = BuilderFlag  # type: ignore[attr-defined]
    trt.MemoryPoolType = MemoryPoolType  # type: ignore[attr-defined]
    trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2  # type: ignore[attr-defined]
    trt.Logger = Logger  # type: ignore[attr-defined]
    trt.Runtime = Runtime  # type: ignore[attr-defined]
    trt.TensorIOMode = TensorIOMode  # type: ignore[attr-defined]
    trt.DataType = DataType  # type: ignore[attr-defined]
    trt.nptype = lambda dt: np.float32  # type: ignore[attr-defined]
    return trt

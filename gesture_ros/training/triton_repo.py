"""Triton model repositories for the classifier (and the detector).

Three flavours of the same model, one ``<repo>/<name>/config.pbtxt`` + ``<repo>/<name>/1/``:

- ``tensorrt_plan``: a TensorRT engine (``1/model.plan``) for a GPU server / Jetson;
- ``onnxruntime_onnx``: the ONNX file (``1/model.onnx``) for a server with the ONNX Runtime backend;
- ``python``: the ONNX file run by ONNX Runtime inside Triton's Python backend (``1/model.py``),
  the only flavour the CPU ``tritonserver`` of the ``nvidia-pytriton`` wheel can serve.

Tensor names, dims and labels come from ``config/models.yaml``; ``dynamic_batching`` lets one
server batch the hands of many camera streams together.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gesture_ros.core.errors import ConfigError, ModelError

FLAVOURS = ("tensorrt_plan", "onnxruntime_onnx", "python")

PYTHON_MODEL = '''"""Triton Python-backend model: runs 1/model.onnx in ONNX Runtime
(written by gesture-train triton-repo).

All requests of a dynamic batch go through one session.run; a request that cannot be served gets
its own error response instead of failing the batch.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        cfg = json.loads(args["model_config"])
        self.input = cfg["input"][0]["name"]
        self.dims = [int(d) for d in cfg["input"][0]["dims"]]
        self.outputs = [o["name"] for o in cfg["output"]]
        params = cfg.get("parameters", {})
        threads = int(params.get("intra_op_threads", {}).get("string_value", "1"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        arrays, good = [], []
        responses = [None] * len(requests)
        for i, r in enumerate(requests):
            t = pb_utils.get_input_tensor_by_name(r, self.input)
            a = None if t is None else t.as_numpy()
            if a is None or list(a.shape[1:]) != self.dims:
                shape = None if a is None else list(a.shape)
                err = pb_utils.TritonError(f"input {self.input} must be [N, {self.dims}], got {shape}")
                responses[i] = pb_utils.InferenceResponse(output_tensors=[], error=err)
                continue
            arrays.append(np.asarray(a, dtype=np.float32))
            good.append(i)
        if arrays:
            batch = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)  # no copy for a lone request
            outs = self.session.run(self.outputs, {self.input: batch})
            start = 0
            for i, a in zip(good, arrays):
                n = a.shape[0]
                tensors = [
                    pb_utils.Tensor(name, np.ascontiguousarray(o[start : start + n]))
                    for name, o in zip(self.outputs, outs)
                ]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
                start += n
        return responses

    def finalize(self):
        self.session = None
'''


def _tensor(name: str, dims: list[int]) -> str:
    return f'  {{\n    name: "{name}"\n    data_type: TYPE_FP32\n    dims: [ {", ".join(map(str, dims))} ]\n  }}'


def io_of(spec: Any) -> tuple[tuple[str, list[int]], list[tuple[str, list[int]]]]:
    """(input name, CHW dims) and [(output name, dims without batch)] of a model spec."""
    chw = [3, spec.input.height, spec.input.width]
    if hasattr(spec, "coverage_output"):  # detector
        gh, gw = spec.grid
        c = len(spec.labels)
        return (spec.input.name, chw), [(spec.coverage_output, [c, gh, gw]), (spec.bbox_output, [4 * c, gh, gw])]
    return (spec.input.name, chw), [(spec.output, [len(spec.labels)])]


def config_pbtxt(
    name: str,
    flavour: str,
    spec: Any,
    max_batch: int,
    *,
    dynamic_batching: bool = True,
    queue_delay_us: int = 500,
    instances: int = 1,
    threads: int = 1,
) -> str:
    if flavour not in FLAVOURS:
        raise ConfigError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
    (inp, inp_dims), outs = io_of(spec)
    head = {
        "tensorrt_plan": 'platform: "tensorrt_plan"',
        "onnxruntime_onnx": 'platform: "onnxruntime_onnx"',
        "python": 'backend: "python"',
    }
    kind = "KIND_GPU" if flavour == "tensorrt_plan" else "KIND_CPU"
    lines = [
        f'name: "{name}"',
        head[flavour],
        f"max_batch_size: {max_batch}",
        "input [\n" + _tensor(inp, inp_dims) + "\n]",
        "output [\n" + ",\n".join(_tensor(n, d) for n, d in outs) + "\n]",
        f"instance_group [\n  {{\n    count: {instances}\n    kind: {kind}\n  }}\n]",
    ]
    if dynamic_batching:
        preferred = sorted({b for b in (max(1, max_batch // 2), max_batch) if b > 1})
        pref = f"  preferred_batch_size: [ {', '.join(map(str, preferred))} ]\n" if preferred else ""
        lines.append(f"dynamic_batching {{\n{pref}  max_queue_delay_microseconds: {queue_delay_us}\n}}")
    if flavour == "python":
        lines.append(f'parameters: {{\n  key: "intra_op_threads"\n  value: {{ string_value: "{threads}" }}\n}}')
    if hasattr(spec, "labels") and not hasattr(spec, "coverage_output"):
        lines.append(f"# labels (config/models.yaml): {', '.join(spec.labels)}")
    return "\n".join(lines) + "\n"


def write_model(
    repo: Path, name: str, model_file: Path, flavour: str, spec: Any, max_batch: int, **kwargs: Any
) -> Path:
    """Write ``repo/name/config.pbtxt`` and version 1; return the model directory."""
    if not model_file.is_file():
        raise ModelError(f"model file not found: {model_file}")
    if flavour == "tensorrt_plan" and model_file.suffix == ".onnx":
        raise ModelError("tensorrt_plan needs an engine file (gesture-train engines), not an ONNX")
    if flavour != "tensorrt_plan" and model_file.suffix != ".onnx":
        raise ModelError(f"{flavour} needs an ONNX file, got {model_file}")
    d = repo / name
    (d / "1").mkdir(parents=True, exist_ok=True)
    (d / "config.pbtxt").write_text(config_pbtxt(name, flavour, spec, max_batch, **kwargs))
    shutil.copyfile(model_file, d / "1" / ("model.plan" if flavour == "tensorrt_plan" else "model.onnx"))
    if flavour == "python":
        (d / "1" / "model.py").write_text(PYTHON_MODEL)
    return d

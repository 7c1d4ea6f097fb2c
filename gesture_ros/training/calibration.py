"""INT8 calibration cache (TensorRT's text format) for the non-QAT path, computed on a CPU.

TensorRT normally calibrates while it builds the engine, on the target. Here the ONNX model runs
in ONNX Runtime with every intermediate tensor exposed, on images pre-processed exactly as the
node does it; each tensor's range is chosen by TensorRT's entropy method (minimise the KL
divergence between the 2048-bin histogram of |x| and its 128-level quantisation) or by its
maximum. The file is what ``IInt8EntropyCalibrator2.write_calibration_cache`` writes:

    TRT-100300-EntropyCalibration2
    input_1: 3c010204
    <tensor name>: <scale as big-endian float32 hex>

and ``trtexec --int8 --calib=<file>`` (or the engine step) reads it. TensorRT names each layer
output after the ONNX tensor, so the names here are the ONNX graph's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

BINS = 2048
LEVELS = 128


def trt_version_int(version: str) -> int:
    """``10.3.0`` -> 100300 (NV_TENSORRT_VERSION of TensorRT 10; 8.6.1 -> 8601 for TensorRT 8)."""
    parts = [int(p) for p in version.split(".")[:3]] + [0, 0]
    major, minor, patch = parts[:3]
    return major * 10000 + minor * 100 + patch if major >= 10 else major * 1000 + minor * 100 + patch


def entropy_threshold(hist: npt.NDArray[np.float64], bin_width: float) -> float:
    """TensorRT's entropy calibration: the |x| threshold minimising KL(P || Q)."""
    hist = hist.astype(np.float64)
    if hist.sum() == 0:
        return bin_width * len(hist)
    best_kl, best_i = np.inf, len(hist)
    for i in range(LEVELS, len(hist) + 1):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()  # outliers clip into the last bin
        nonzero = hist[:i] != 0
        # merge the i bins into LEVELS groups, then spread each group's mass over its non-empty bins
        edges = np.linspace(0, i, LEVELS + 1).astype(int)[:-1]
        sums = np.add.reduceat(hist[:i], edges)
        counts = np.add.reduceat(nonzero.astype(np.float64), edges)
        sizes = np.diff(np.append(edges, i))
        q = np.repeat(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0), sizes) * nonzero
        ps, qs = p.sum(), q.sum()
        if qs == 0:
            continue
        pn, qn = p / ps, q / qs
        mask = pn > 0
        if np.any(qn[mask] == 0):
            kl = np.inf
        else:
            kl = float(np.sum(pn[mask] * np.log(pn[mask] / qn[mask])))
        if kl < best_kl:
            best_kl, best_i = kl, i
    return (best_i + 0.5) * bin_width


def tensor_ranges(
    onnx_path: Path, batches: Iterable[npt.NDArray[np.float32]], input_name: str, method: str = "entropy"
) -> dict[str, float]:
    """amax per float tensor (the input and every node output) over the calibration batches."""
    import onnx
    import onnxruntime as ort

    model = onnx.shape_inference.infer_shapes(onnx.load(str(onnx_path)))
    known = {v.name for v in model.graph.output}
    floats = {
        v.name
        for v in list(model.graph.value_info) + list(model.graph.output)
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    }
    names = [o for n in model.graph.node for o in n.output if o in floats]
    for v in model.graph.value_info:
        if v.name in names and v.name not in known:
            model.graph.output.append(v)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # every tensor as in the file
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    data = list(batches)
    if not data:
        raise ValueError("no calibration images")
    all_names = [input_name, *names]
    amax = dict.fromkeys(all_names, 0.0)
    outs_per_batch = []
    for x in data:
        outs = dict(zip(names, sess.run(names, {input_name: x}), strict=True))
        outs[input_name] = x
        for k in all_names:
            amax[k] = max(amax[k], float(np.abs(outs[k]).max()))
        if method == "entropy":
            outs_per_batch.append(outs)
    if method == "max":
        return amax
    if method != "entropy":
        raise ValueError(f"method must be entropy or max, got {method!r}")
    ranges = {}
    for k in all_names:
        width = max(amax[k], 1e-12) / BINS
        hist = np.zeros(BINS)
        for outs in outs_per_batch:
            hist += np.histogram(np.abs(outs[k]), bins=BINS, range=(0, width * BINS))[0]
        ranges[k] = min(amax[k], entropy_threshold(hist, width)) if amax[k] > 0 else 0.0
    return ranges


def write_cache(
    path: Path, ranges: dict[str, float], trt_version: str = "10.3.0", algorithm: str = "EntropyCalibration2"
) -> None:
    lines = [f"TRT-{trt_version_int(trt_version)}-{algorithm}"]
    for name, amax in ranges.items():
        scale = max(amax, 1e-12) / 127.0
        lines.append(f"{name}: {struct.pack('>f', scale).hex()}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def read_cache(path: Path) -> tuple[str, dict[str, float]]:
    """Header and scales of a cache file (tests, and a check before building an engine)."""
    lines = path.read_text().splitlines()
    scales = {}
    for line in lines[1:]:
        name, hexval = line.rsplit(":", 1)
        scales[name.strip()] = struct.unpack(">f", bytes.fromhex(hexval.strip()))[0]
    return lines[0], scales


def calibration_batches(spec: Any, images: list[Path]) -> Iterator[npt.NDArray[np.float32]]:
    """Images pre-processed by the runtime's own letterbox pre-processor, one per batch."""
    from gesture_ros.core.preprocess import Preprocessor

    from ..model_eval import read_bgr

    pre = Preprocessor(spec.input, max_batch=1)
    for p in images:
        pre.fill(0, read_bgr(p), "bgr")
        yield pre.tensor[:1].copy()


def run_calibration(
    onnx_path: Path,
    spec: Any,
    data: Path,
    out: Path,
    *,
    images: int = 64,
    method: str = "entropy",
    trt_version: str = "10.3.0",
    exclude_scenes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Write the cache for ``onnx_path`` from ``images`` images of ``data`` spread over its scenes."""
    from ..datasets import load_detection_set

    samples = [s for s in load_detection_set(data) if s.scene not in exclude_scenes]
    if not samples:
        raise ValueError(f"no calibration images in {data}")
    pick = np.linspace(0, len(samples) - 1, min(images, len(samples))).round().astype(int)
    chosen = [samples[i].image for i in sorted(set(pick.tolist()))]
    ranges = tensor_ranges(onnx_path, calibration_batches(spec, chosen), spec.input.name, method)
    write_cache(out, ranges, trt_version, "EntropyCalibration2" if method == "entropy" else "MinMaxCalibration")
    return {
        "cache": str(out),
        "tensors": len(ranges),
        "images": len(chosen),
        "method": method,
        "trt_version": trt_version,
    }

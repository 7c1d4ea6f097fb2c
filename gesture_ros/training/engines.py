"""TensorRT engines for the two models: built through the TensorRT 10 Python API where TensorRT is
installed (a Jetson, a GPU machine), otherwise the exact ``trtexec`` / ``tao-converter``
commands are printed and written to ``build_engines.sh`` beside the models.

Engines are specific to the GPU and TensorRT version that build them, so they are built on the
target. Optimisation profiles use TAO's notation ``name,MINxCxHxW,OPTx...,MAXx...``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class Profile:
    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]

    def tao(self) -> str:
        dims = lambda s: "x".join(map(str, s))  # noqa: E731
        return f"{self.name},{dims(self.min)},{dims(self.opt)},{dims(self.max)}"


def parse_profile(text: str) -> Profile:
    """``input_1,1x3x160x160,1x3x160x160,2x3x160x160`` -> :class:`Profile` (checked)."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(
            f"profile must be name,MIN,OPT,MAX (like input_1,1x3x160x160,1x3x160x160,2x3x160x160); got {text!r}"
        )
    try:
        shapes = [tuple(int(d) for d in p.lower().split("x")) for p in parts[1:]]
    except ValueError:
        raise ValueError(f"profile shapes must be integers joined by 'x'; got {text!r}") from None
    lo, opt, hi = shapes
    if not (len(lo) == len(opt) == len(hi)) or any(not (a <= b <= c) for a, b, c in zip(lo, opt, hi, strict=True)):
        raise ValueError(f"profile needs MIN <= OPT <= MAX in every dimension; got {text!r}")
    return Profile(parts[0], lo, opt, hi)


def default_profile(spec: Any, max_batch: int, opt_batch: int | None = None) -> Profile:
    """Batch 1..max_batch at the model's input size from config/models.yaml."""
    chw = (3, spec.input.height, spec.input.width)
    opt = min(max_batch, opt_batch or max(1, max_batch // 2))
    return Profile(spec.input.name, (1, *chw), (opt, *chw), (max_batch, *chw))


def trtexec_command(
    onnx: Path,
    engine: Path,
    precision: str,
    profiles: list[Profile],
    calib: Path | None = None,
    workspace_mb: int = 1024,
) -> list[str]:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    shape = lambda attr: ",".join(f"{p.name}:{'x'.join(map(str, getattr(p, attr)))}" for p in profiles)  # noqa: E731
    cmd = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}", f"--memPoolSize=workspace:{workspace_mb}M"]
    cmd += [f"--minShapes={shape('min')}", f"--optShapes={shape('opt')}", f"--maxShapes={shape('max')}"]
    if precision in ("fp16", "int8"):
        cmd.append("--fp16")  # layers INT8 cannot take fall back to FP16, not FP32
    if precision == "int8":
        cmd.append("--int8")
        if calib is not None:
            cmd.append(f"--calib={calib}")
    return cmd


def tao_converter_command(
    etlt: Path,
    engine: Path,
    precision: str,
    profile: Profile,
    key: str,
    outputs: list[str] | None = None,
    calib: Path | None = None,
) -> list[str]:
    """For an encrypted ``.etlt`` from NGC (TensorRT cannot parse it; tao-converter decrypts it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cmd = ["tao-converter", "-k", key, "-t", precision, "-p", profile.tao(), "-e", str(engine)]
    if outputs:
        cmd += ["-o", ",".join(outputs)]
    if precision == "int8" and calib is not None:
        cmd += ["-c", str(calib)]
    return [*cmd, str(etlt)]


def build_engine(
    onnx: Path,
    engine: Path,
    precision: str,
    profiles: list[Profile],
    calib: Path | None = None,
    workspace_mb: int = 1024,
) -> Path:
    """Build and serialise an engine with the TensorRT 10 Python API (imported here, lazily)."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"TensorRT could not parse {onnx}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if calib is not None:  # a Q/DQ (QAT) model needs none: its scales are in the graph
            config.int8_calibrator = _cache_calibrator(trt, calib)
    profile = builder.create_optimization_profile()
    for p in profiles:
        profile.set_shape(p.name, p.min, p.opt, p.max)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx} (see the log above)")
    engine.parent.mkdir(parents=True, exist_ok=True)
    engine.write_bytes(bytes(serialized))
    return engine


def _cache_calibrator(trt: Any, cache: Path) -> Any:
    """A calibrator that only hands TensorRT the cache written by ``gesture-train calibrate``."""

    class CacheCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.data = cache.read_bytes()

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> None:
            return None  # no images: everything comes from the cache

        def read_calibration_cache(self) -> bytes:
            return self.data

        def write_calibration_cache(self, data: bytes) -> None:
            return None

    return CacheCalibrator()


def tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class EngineJob:
    model: Path  # .onnx or .etlt
    engine: Path
    precision: str
    profile: Profile
    calib: Path | None = None
    outputs: tuple[str, ...] = ()  # for .etlt


def make_engines(
    jobs: list[EngineJob], script: Path, key: str = "nvidia_tlt", build: bool | None = None
) -> dict[str, Any]:
    """Build every job (TensorRT present) or write their commands to ``script`` (absent).

    The script is written in both cases, so the same engines can be rebuilt on the target.
    """
    build = tensorrt_available() if build is None else build
    lines = [
        "#!/usr/bin/env bash",
        "# TensorRT engines for gesture_ros; run on the target (engines are GPU-specific).",
        "set -euo pipefail",
    ]
    built = []
    for job in jobs:
        if job.model.suffix == ".etlt":
            cmd = tao_converter_command(
                job.model, job.engine, job.precision, job.profile, "$KEY", list(job.outputs), job.calib
            )
        else:
            cmd = trtexec_command(job.model, job.engine, job.precision, [job.profile], job.calib)
        lines.append(" ".join(c if c == "$KEY" else shlex.quote(c) for c in cmd))
        if build and job.model.suffix == ".onnx":
            built.append(str(build_engine(job.model, job.engine, job.precision, [job.profile], job.calib)))
    if any(j.model.suffix == ".etlt" for j in jobs):
        lines.insert(3, f"KEY=${{KEY:-{key}}}  # the model's NGC key")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("\n".join(lines) + "\n")
    script.chmod(0o755)
    return {"built": built, "script": str(script), "commands": lines[3:], "tensorrt": build}

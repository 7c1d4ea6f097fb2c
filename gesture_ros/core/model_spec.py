"""Model descriptions: the single place where a model's tensors, colour order and
normalisation are stated.

Code, launch files and tests read a :class:`DetectorSpec` / :class:`ClassifierSpec` from
``config/models.yaml`` instead of repeating input sizes or tensor names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .yamlfile import read_yaml

ColorOrder = Literal["rgb", "bgr"]
PadMode = Literal["right_bottom", "symmetric", "stretch"]
ResizeMode = Literal["area", "linear"]


@dataclass(frozen=True)
class Normalisation:
    """``y = (x - mean) * scale`` per channel, with x the 0..255 pixel value."""

    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: tuple[float, float, float] = (1.0 / 255.0,) * 3

    @staticmethod
    def parse(raw: Any) -> Normalisation:
        """From a ``models.yaml`` mapping (mean/scale); absent: the identity."""
        if raw is None:
            return Normalisation()
        if not isinstance(raw, dict):
            raise ConfigError(f"normalisation must be a mapping with mean/scale, got {raw!r}")

        def triple(v: Any, name: str) -> tuple[float, float, float]:
            if isinstance(v, (int, float)):
                return (float(v),) * 3
            if isinstance(v, (list, tuple)) and len(v) == 3:
                return (float(v[0]), float(v[1]), float(v[2]))
            raise ConfigError(f"normalisation.{name} must be a number or 3 numbers, got {v!r}")

        return Normalisation(triple(raw.get("mean", 0.0), "mean"), triple(raw.get("scale", 1 / 255), "scale"))


@dataclass(frozen=True)
class TensorInput:
    """An image input tensor laid out NCHW (batch axis implicit)."""

    name: str
    channels: int
    height: int
    width: int
    color: ColorOrder = "rgb"
    normalisation: Normalisation = field(default_factory=Normalisation)
    pad: PadMode = "right_bottom"
    #: downscaling filter: area (anti-aliased, slower) or linear (faster; config/models.yaml has the costs)
    resize: ResizeMode = "area"


@dataclass(frozen=True)
class DetectorSpec:
    """A DetectNet_v2-style detector (coverage + bbox grids at a fixed stride)."""

    file: str
    input: TensorInput
    coverage_output: str
    bbox_output: str
    labels: tuple[str, ...]
    stride: int = 16
    bbox_scale: float = 35.0
    offset: float = 0.5
    triton_model: str = "hand_detector"  # its name in a Triton model repository
    #: the network runs at any input height and width that are multiples of this (0: only at
    #: ``input``'s own size); ``input`` is then the largest size, the one a letterbox fills
    size_multiple: int = 0

    @property
    def grid(self) -> tuple[int, int]:
        """Rows and columns of the output grid (input size / stride)."""
        return self.input.height // self.stride, self.input.width // self.stride


@dataclass(frozen=True)
class ClassifierSpec:
    """A GestureNet-style classifier (one crop in, one probability vector out)."""

    file: str
    input: TensorInput
    output: str
    labels: tuple[str, ...]
    output_is_probability: bool = True
    triton_model: str = "gesture_classifier"  # its name in a Triton model repository


@dataclass(frozen=True)
class ModelsConfig:
    """Both model descriptions of ``config/models.yaml`` and the file they came from."""

    detector: DetectorSpec
    classifier: ClassifierSpec
    source: Path | None = None


def _tensor_input(raw: dict[str, Any], where: str) -> TensorInput:
    try:
        shape = raw["shape"]
        if not (isinstance(shape, list) and len(shape) == 3 and all(isinstance(s, int) and s > 0 for s in shape)):
            raise ConfigError(f"{where}.input.shape must be [C, H, W] positive integers, got {shape!r}")
        color = raw.get("color", "rgb")
        if color not in ("rgb", "bgr"):
            raise ConfigError(f"{where}.input.color must be 'rgb' or 'bgr', got {color!r}")
        pad = raw.get("pad", "right_bottom")
        if pad not in ("right_bottom", "symmetric", "stretch"):
            raise ConfigError(f"{where}.input.pad must be right_bottom, symmetric or stretch, got {pad!r}")
        resize = raw.get("resize", "area")
        if resize not in ("area", "linear"):
            raise ConfigError(f"{where}.input.resize must be area or linear, got {resize!r}")
        if shape[0] != 3:
            raise ConfigError(f"{where}.input.shape: only 3-channel inputs are supported, got {shape[0]}")
        return TensorInput(
            name=str(raw["name"]),
            channels=shape[0],
            height=shape[1],
            width=shape[2],
            color=color,
            normalisation=Normalisation.parse(raw.get("normalisation")),
            pad=pad,
            resize=resize,
        )
    except KeyError as exc:
        raise ConfigError(f"{where}.input is missing {exc.args[0]!r}") from None


def parse_models(raw: Any, source: Path | None = None) -> ModelsConfig:
    """Build the model descriptions from the parsed YAML mapping, with one error per problem."""
    if not isinstance(raw, dict) or "detector" not in raw or "classifier" not in raw:
        raise ConfigError("models file must have 'detector' and 'classifier' sections")
    d, c = raw["detector"], raw["classifier"]
    try:
        det = DetectorSpec(
            file=str(d["file"]),
            input=_tensor_input(d["input"], "detector"),
            coverage_output=str(d["outputs"]["coverage"]),
            bbox_output=str(d["outputs"]["bbox"]),
            labels=tuple(str(x) for x in d["labels"]),
            stride=int(d.get("stride", 16)),
            bbox_scale=float(d.get("bbox_scale", 35.0)),
            offset=float(d.get("offset", 0.5)),
            triton_model=str(d.get("triton_model", "hand_detector")),
            size_multiple=int(d.get("size_multiple", 0)),
        )
        cls = ClassifierSpec(
            file=str(c["file"]),
            input=_tensor_input(c["input"], "classifier"),
            output=str(c["output"]),
            labels=tuple(str(x) for x in c["labels"]),
            output_is_probability=bool(c.get("output_is_probability", True)),
            triton_model=str(c.get("triton_model", "gesture_classifier")),
        )
    except KeyError as exc:
        raise ConfigError(f"models file is missing key {exc.args[0]!r}") from None
    if det.input.height % det.stride or det.input.width % det.stride:
        raise ConfigError(
            f"detector input {det.input.height}x{det.input.width} is not a multiple of stride {det.stride}"
        )
    m = det.size_multiple
    if m < 0 or (m and (m % det.stride or det.input.height % m or det.input.width % m)):
        raise ConfigError(
            f"detector size_multiple {m} must be 0 or a multiple of stride {det.stride} that divides the input "
            f"{det.input.height}x{det.input.width}"
        )
    if not det.labels or not cls.labels:
        raise ConfigError("detector and classifier need at least one label each")
    return ModelsConfig(det, cls, source)


def load_models(path: str | Path) -> ModelsConfig:
    """Read ``config/models.yaml`` (safe YAML loading only)."""
    return parse_models(read_yaml(path, "models file"), Path(path))


def with_file(spec: DetectorSpec | ClassifierSpec, file: str) -> Any:
    """Return a copy of ``spec`` pointing at another model file (a parameter override)."""
    return replace(spec, file=file)


__all__ = [
    "ClassifierSpec",
    "DetectorSpec",
    "ModelsConfig",
    "Normalisation",
    "TensorInput",
    "load_models",
    "parse_models",
    "with_file",
]

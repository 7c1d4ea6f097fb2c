"""Deploy bundle: one folder that brings the trained models up on a robot.

``gesture-train deploy`` copies the models (ONNX files or TensorRT engines) and writes beside
them the model description (``models.yaml``: input size, tensor names, normalisation, labels,
taken from the package's ``config/models.yaml`` and checked against an ONNX file's real input),
the node parameters (``gesture_ros.yaml``: backends, thresholds, topics), the graph
(``graph.yaml``) and a launch file. Paths inside are ``${GESTURE_ROS_GRAPH_DIR}``-relative, so
the folder can be copied anywhere:

    ros2 launch bundle/gesture_jetson.launch.py      # on the robot
    gesture-ros up bundle/graph.yaml                  # here, or anywhere without ros2 launch
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gesture_ros import paths
from gesture_ros.core.errors import ConfigError, ModelError
from gesture_ros.graph import GRAPH_DIR_VAR, nested
from gesture_ros.settings import PARAMS, check_all

LAUNCH_FILE = '''"""gesture_ros on this robot, written by `gesture-train deploy`.

ros2 launch {name}.launch.py [name:=value ...]   (arguments: ros2 launch ... --show-args)
"""

from pathlib import Path

from gesture_ros.launch_support import launch_description


def generate_launch_description():
    return launch_description(str(Path(__file__).resolve().parent / "graph.yaml"))
'''

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass
class DeployConfig:
    out: str = "bundle"
    detector: str = ""  # .onnx or TensorRT engine; empty: the shipped ONNX
    classifier: str = ""  # .onnx or TensorRT engine; empty: the shipped ONNX
    graph: str = "separate"  # separate | fused
    name: str = "gesture_jetson"
    image_topic: str = ""  # empty: keep the package default
    camera_source: str = ""  # empty: no camera node (the robot's camera driver publishes image_topic)
    triton_repo: str = ""  # a model repository (gesture-train triton-repo) to ship with the bundle
    triton_url: str = ""  # classify through this Triton server (host:port) instead of a local model
    triton_protocol: str = "grpc"
    set: list[str] = field(default_factory=list)  # extra node parameters, name=value


def backend_of(model: Path) -> str:
    return "tensorrt" if model.suffix in ENGINE_SUFFIXES else "onnxruntime"


def _check_onnx_input(model: Path, spec: Any) -> None:
    """An ONNX file's input must be what models.yaml says (the nodes pre-process to that size; a
    detector with ``size_multiple`` may leave its height and width open)."""
    if model.suffix != ".onnx":
        return
    import onnx

    inp = onnx.load(str(model), load_external_data=False).graph.input[0]
    dims = [d.dim_value or d.dim_param for d in inp.type.tensor_type.shape.dim]
    want = [3, spec.input.height, spec.input.width]
    open_ok = [False, *([bool(getattr(spec, "size_multiple", 0))] * 2)]
    got = [int(d) if isinstance(d, int) else d for d in dims[1:]]
    if (
        inp.name != spec.input.name
        or len(got) != 3
        or any(g != w and not (ok and isinstance(g, str)) for g, w, ok in zip(got, want, open_ok, strict=True))
    ):
        raise ModelError(
            f"{model}: input {inp.name} {dims} does not match config/models.yaml ({spec.input.name} [N, {want}])"
        )


def _parse_sets(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set needs name=value, got {item!r}")
        name, text = item.split("=", 1)
        if name not in PARAMS:
            raise ConfigError(f"unknown parameter {name!r}")
        out[name] = yaml.safe_load(text)
    return out


def write_bundle(cfg: DeployConfig, values: dict[str, Any]) -> dict[str, Any]:
    """Write the bundle; ``values`` are the node parameters to start from (config/gesture_ros.yaml)."""
    if cfg.graph not in ("separate", "fused"):
        raise ConfigError(f"graph must be separate or fused, got {cfg.graph!r}")
    out = Path(cfg.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    share = paths.share_dir()
    models_raw = yaml.safe_load((share / "config" / "models.yaml").read_text())
    from gesture_ros.core.model_spec import parse_models

    specs = parse_models(models_raw)
    params = dict(values)
    for key, arg, spec in (
        ("detector", cfg.detector, specs.detector),
        ("classifier", cfg.classifier, specs.classifier),
    ):
        if key == "classifier" and cfg.triton_url:
            params.update(
                {
                    "classifier.backend": "triton",
                    "classifier.model": "",
                    "triton.url": cfg.triton_url,
                    "triton.protocol": cfg.triton_protocol,
                }
            )
            continue
        src = Path(arg) if arg else paths.resolve(spec.file)
        if not src.is_file():
            raise ModelError(f"{key} model not found: {src}")
        _check_onnx_input(src, spec)
        shutil.copyfile(src, out / "models" / src.name)
        models_raw[key]["file"] = f"${{{GRAPH_DIR_VAR}}}/models/{src.name}"
        params[f"{key}.backend"] = backend_of(src)
        params[f"{key}.model"] = ""  # the bundle's models.yaml names the file
    params["models_file"] = f"${{{GRAPH_DIR_VAR}}}/models.yaml"
    if cfg.image_topic:
        params["image_topic"] = cfg.image_topic
    params.update(_parse_sets(cfg.set))
    problems = check_all(params)
    if problems:
        raise ConfigError("; ".join(problems))
    (out / "models.yaml").write_text(
        "# written by gesture-train deploy (from config/models.yaml)\n" + yaml.safe_dump(models_raw, sort_keys=False)
    )
    doc = {"/**": {"ros__parameters": nested(params)}}
    (out / "gesture_ros.yaml").write_text("# written by gesture-train deploy\n" + yaml.safe_dump(doc, sort_keys=False))
    graph = yaml.safe_load((share / "config" / f"graph_{cfg.graph}.yaml").read_text())
    graph["name"] = cfg.name
    graph["description"] = f"{graph.get('description', '')} (deploy bundle)"
    graph["arguments"] = {
        "params_file": {
            "default": f"${{{GRAPH_DIR_VAR}}}/gesture_ros.yaml",
            "description": "the bundle's node parameters",
        },
        "camera": {
            "default": "true" if cfg.camera_source else "false",
            "enables": ["camera"],
            "description": "start the camera node",
        },
    }
    if cfg.camera_source:
        graph["arguments"]["camera_source"] = {
            "default": cfg.camera_source,
            "sets": ["camera.source"],
            "description": "camera source",
        }
    (out / "graph.yaml").write_text("# written by gesture-train deploy\n" + yaml.safe_dump(graph, sort_keys=False))
    (out / f"{cfg.name}.launch.py").write_text(LAUNCH_FILE.format(name=cfg.name))
    if cfg.triton_repo:
        shutil.copytree(cfg.triton_repo, out / "model_repo", dirs_exist_ok=True)
    return {
        "bundle": str(out),
        "launch": str(out / f"{cfg.name}.launch.py"),
        "graph": str(out / "graph.yaml"),
        "detector": {"backend": params["detector.backend"], "file": models_raw["detector"]["file"]},
        "classifier": {
            "backend": params["classifier.backend"],
            "file": models_raw["classifier"]["file"],
            "triton_url": cfg.triton_url or None,
        },
        "input": {
            "detector": [3, specs.detector.input.height, specs.detector.input.width],
            "classifier": [3, specs.classifier.input.height, specs.classifier.input.width],
        },
    }

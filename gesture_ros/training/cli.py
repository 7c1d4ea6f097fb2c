"""``gesture-train``: the offline workflow from labelled hand images to deployable models.

Each step writes into one experiment directory (``--out``): the config it ran with, a log,
checkpoints, artefacts and ``metrics.json``. Model facts (tensor names, input size,
normalisation, labels) come from ``config/models.yaml``; clustering and ROI expansion from the
node parameters (``config/gesture_ros.yaml`` or ``--params``), so training and evaluation see
exactly what the nodes do.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from gesture_ros import commands, paths
from gesture_ros.commands import Command
from gesture_ros.core.errors import ConfigError
from gesture_ros.core.model_spec import ModelsConfig, load_models
from gesture_ros.core.yamlfile import read_yaml
from gesture_ros.factory import parameter_values
from gesture_ros.settings import CLUSTERING, ROI

_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}


def read_config_yaml(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """An experiment YAML with its ``base`` chain merged in (the file's own keys win).

    ``base`` names another YAML, relative to this file's folder: the detector's later stages
    take data and validation scenes from stage 1's file, so the scenes are written once.
    """
    path = path.resolve()
    if path in _seen:
        raise ConfigError(f"{path}: base chain loops back to itself")
    try:  # missing, unreadable or invalid YAML: one line naming the file (and who asked for it)
        own = read_yaml(path, "experiment YAML") or {}
    except ConfigError as exc:
        raise ConfigError(f"{exc}" + (f" (base of {_seen[-1]})" if _seen else "")) from None
    if not isinstance(own, dict):
        raise ConfigError(f"{path}: an experiment YAML is a mapping of config keys")
    base = own.pop("base", None)
    if base is None:
        return own
    return {**read_config_yaml(path.parent / str(base), (*_seen, path)), **own}


def _config(cls: type, args: argparse.Namespace) -> Any:
    """The step's dataclass: defaults < ``--config`` YAML (and its ``base``) < command-line flags."""
    base: dict[str, Any] = {}
    if args.config:
        base = read_config_yaml(Path(args.config))
        unknown = set(base) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"{args.config}: unknown keys {sorted(unknown)} for {cls.__name__}")
    for f in fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            base[f.name] = v
    return cls(**base)


def _add_config_flags(sp: argparse.ArgumentParser, cls: type) -> None:
    sp.add_argument("--config", help="experiment YAML (fields of the step's config)")
    for f in fields(cls):
        flag = f"--{f.name.replace('_', '-')}"
        default = "" if f.default is MISSING else f" (default {f.default})"
        if f.type in _TYPES:
            sp.add_argument(flag, dest=f.name, type=_TYPES[f.type], help=f"{f.type}{default}")
        elif f.type == "bool":
            sp.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None)
        elif f.type.startswith("list"):
            sp.add_argument(flag, dest=f.name, nargs="*")


def _models() -> ModelsConfig:
    return load_models(paths.share_dir() / "config" / "models.yaml")


def _write_json(path: str | None, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=2)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    print(text if len(text) < 4000 else text[:4000] + "\n...")


def _evaluate(args: argparse.Namespace) -> int:
    """``evaluate-detector`` / ``evaluate-classifier``: one ONNX model on a folder, through the runtime."""
    from ..datasets import load_detection_set, load_gesture_set
    from ..model_eval import evaluate_classifier, evaluate_detector

    models = _models()
    values = parameter_values(args.params)
    plot = Path(args.plot) if args.plot else (Path(args.json).with_suffix(".png") if args.json else None)
    if args.command == "evaluate-detector":
        model = Path(args.model) if args.model else paths.resolve(models.detector.file)
        samples = load_detection_set(Path(args.data))
        if not samples:
            raise ConfigError(f"no images in {args.data}/images")
        res = evaluate_detector(model, models.detector, samples, CLUSTERING.build(values), plot)
    else:
        model = Path(args.model) if args.model else paths.resolve(models.classifier.file)
        gestures = load_gesture_set(Path(args.data), models.classifier.labels)
        if not gestures:
            raise ConfigError(f"no images in {args.data}/gestures/<class>/")
        res = evaluate_classifier(model, models.classifier, gestures, ROI.build(values), plot)
    _write_json(args.json, res)
    return 0


def _engines(args: argparse.Namespace, models: ModelsConfig, values: dict[str, Any]) -> dict[str, Any]:
    from .engines import EngineJob, default_profile, make_engines, parse_profile

    out = Path(args.out)
    det = Path(args.detector) if args.detector else paths.resolve(models.detector.file)
    cls = Path(args.classifier) if args.classifier else paths.resolve(models.classifier.file)
    det_profile = parse_profile(args.detector_profile) if args.detector_profile else default_profile(models.detector, 1)
    cls_max = int(values["classifier.max_batch"])
    cls_profile = (
        parse_profile(args.classifier_profile)
        if args.classifier_profile
        else default_profile(models.classifier, cls_max)
    )
    jobs = [
        EngineJob(
            det,
            out / f"hand_detector_{args.detector_precision}.engine",
            args.detector_precision,
            det_profile,
            Path(args.calib) if args.calib else None,
            (models.detector.coverage_output, models.detector.bbox_output),
        ),
        EngineJob(
            cls, out / f"gesture_classifier_{args.classifier_precision}.engine", args.classifier_precision, cls_profile
        ),
    ]
    res = make_engines(jobs, out / "build_engines.sh", key=args.key)
    if not res["tensorrt"]:
        print(
            "TensorRT is not installed here: run these on the target (also in " + res["script"] + "):", file=sys.stderr
        )
        for line in res["commands"]:
            print("  " + line, file=sys.stderr)
    return res


def _train_arguments(cls_name: str, what: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(sp: argparse.ArgumentParser) -> None:
        from .deploy import DeployConfig
        from .prune import PruneConfig
        from .train_classifier import ClassifierTrainConfig
        from .train_detector import DetectorTrainConfig

        configs = {
            "detector": DetectorTrainConfig,
            "classifier": ClassifierTrainConfig,
            "deploy": DeployConfig,
            "prune": PruneConfig,
        }
        _add_config_flags(sp, configs[cls_name])
        sp.add_argument("--params", default="config/gesture_ros.yaml", help=f"node parameters ({what})")

    return add


def _distributed(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A training step: the process group torchrun started is destroyed however the step ends."""

    def step(args: argparse.Namespace) -> int:
        try:
            return run(args)
        finally:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()

    return step


def _run_detector(args: argparse.Namespace) -> int:
    from .train_detector import DetectorTrainConfig, train_detector

    cfg = _config(DetectorTrainConfig, args)
    cfg.qat = cfg.qat or args.command == "qat"
    train_detector(cfg, _models().detector, CLUSTERING.build(parameter_values(args.params)))
    return 0


def _run_classifier(args: argparse.Namespace) -> int:
    from .train_classifier import ClassifierTrainConfig, train_classifier

    train_classifier(
        _config(ClassifierTrainConfig, args), _models().classifier, ROI.build(parameter_values(args.params))
    )
    return 0


def _calibrate_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", help="ONNX file (default: the shipped detector)")
    sp.add_argument("--data", required=True, help="images/ (+ labels/, manifest.csv for scenes)")
    sp.add_argument("--out", required=True, help="cache file to write")
    sp.add_argument("--images", type=int, default=64)
    sp.add_argument("--method", choices=("entropy", "max"), default="entropy")
    sp.add_argument("--trt-version", default="10.3.0", help="TensorRT version of the target (JetPack 6: 10.3.0)")
    sp.add_argument("--exclude-scenes", nargs="*", default=[], help="keep validation scenes out of calibration")
    sp.add_argument("--params", default="config/gesture_ros.yaml", help="node parameters")


def _run_calibrate(args: argparse.Namespace) -> int:
    from .calibration import run_calibration

    models = _models()
    model = Path(args.model) if args.model else paths.resolve(models.detector.file)
    res = run_calibration(
        model,
        models.detector,
        Path(args.data),
        Path(args.out),
        images=args.images,
        method=args.method,
        trt_version=args.trt_version,
        exclude_scenes=tuple(args.exclude_scenes),
    )
    _write_json(None, res)
    return 0


def _engines_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--detector", help="detector .onnx / .etlt (default: the shipped ONNX)")
    sp.add_argument("--classifier", help="classifier .onnx or NGC GestureNet .etlt (default: the shipped ONNX)")
    sp.add_argument("--detector-precision", choices=("fp32", "fp16", "int8"), default="fp16")
    sp.add_argument("--classifier-precision", choices=("fp32", "fp16", "int8"), default="fp16")
    sp.add_argument("--calib", help="INT8 calibration cache for the detector (not for a QAT Q/DQ model)")
    sp.add_argument("--detector-profile", help="name,MIN,OPT,MAX (default: batch 1 at the models.yaml input size)")
    sp.add_argument(
        "--classifier-profile",
        help="e.g. input_1,1x3x160x160,4x3x160x160,8x3x160x160 (default: up to classifier.max_batch)",
    )
    sp.add_argument("--key", default="nvidia_tlt", help="NGC model key for .etlt files")
    sp.add_argument("--out", default="engines", help="directory for the engines and build_engines.sh")
    sp.add_argument("--params", default="config/gesture_ros.yaml", help="node parameters (classifier.max_batch)")


def _run_engines(args: argparse.Namespace) -> int:
    _write_json(None, _engines(args, _models(), parameter_values(args.params)))
    return 0


def _run_deploy(args: argparse.Namespace) -> int:
    from .deploy import DeployConfig, write_bundle

    _write_json(None, write_bundle(_config(DeployConfig, args), parameter_values(args.params)))
    return 0


def _triton_repo_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--out", default="model_repo")
    sp.add_argument("--flavour", choices=("python", "onnxruntime_onnx", "tensorrt_plan"), default="python")
    sp.add_argument("--classifier", help="classifier .onnx (or engine for tensorrt_plan); default: the shipped ONNX")
    sp.add_argument("--name", default="gesture_classifier", help="model name in the repository")
    sp.add_argument("--detector", help="also serve this detector file")
    sp.add_argument("--detector-name", default="hand_detector")
    sp.add_argument("--max-batch", type=int, default=8)
    sp.add_argument(
        "--queue-delay-us", type=int, default=500, help="dynamic batching: how long to wait for more requests"
    )
    sp.add_argument("--instances", type=int, default=1)
    sp.add_argument("--threads", type=int, default=1, help="python flavour: ONNX Runtime threads per instance")
    sp.add_argument("--params", default="config/gesture_ros.yaml")


def _run_triton_repo(args: argparse.Namespace) -> int:
    from .triton_repo import write_model

    models = _models()
    kw = {"queue_delay_us": args.queue_delay_us, "instances": args.instances, "threads": args.threads}
    cls = Path(args.classifier) if args.classifier else paths.resolve(models.classifier.file)
    written = [write_model(Path(args.out), args.name, cls, args.flavour, models.classifier, args.max_batch, **kw)]
    if args.detector:
        written.append(
            write_model(
                Path(args.out),
                args.detector_name,
                Path(args.detector),
                args.flavour,
                models.detector,
                1,
                **{**kw, "dynamic_batching": False},
            )
        )
    _write_json(None, {"repository": args.out, "models": [str(w) for w in written], "flavour": args.flavour})
    return 0


def _run_prune(args: argparse.Namespace) -> int:
    from .prune import PruneConfig, run_prune

    cfg = _config(PruneConfig, args)
    models = _models()
    run_prune(
        cfg,
        models.detector if cfg.kind == "detector" else models.classifier,
        CLUSTERING.build(parameter_values(args.params)),
    )
    return 0


def _evaluate_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--model", help="ONNX file (default: the shipped model of config/models.yaml)")
    sp.add_argument("--data", required=True, help="images/ + labels/ (detector) or gestures/<class>/ (classifier)")
    sp.add_argument("--json", help="write the metrics here")
    sp.add_argument("--plot", help="PNG (default: beside --json)")
    sp.add_argument("--params", default="config/gesture_ros.yaml", help="node parameters (clustering / ROI)")


def _convert_egohands_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("src", help="EgoHands root or its _LABELLED_SAMPLES folder")
    sp.add_argument("out", help="output dataset directory (images/, labels/, manifest.csv)")


def _run_convert_egohands(args: argparse.Namespace) -> int:
    from .convert import convert_egohands

    _write_json(None, convert_egohands(Path(args.src), Path(args.out)))
    return 0


def _convert_voc_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("src", help="folder with Annotations/ and JPEGImages/ (or the XML files and images together)")
    sp.add_argument("out")
    sp.add_argument(
        "--class-map", nargs="*", default=None, metavar="SRC=DST", help="keep and rename these classes only"
    )
    sp.add_argument("--scene-pattern", default="", help="regex; its first group of the file name is the scene")


def _run_convert_voc(args: argparse.Namespace) -> int:
    from .convert import convert_voc

    cmap = dict(kv.split("=", 1) for kv in args.class_map) if args.class_map is not None else None
    _write_json(None, convert_voc(Path(args.src), Path(args.out), cmap, args.scene_pattern))
    return 0


def _dataset_report_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("root", help="dataset directory (images/ + labels/)")
    sp.add_argument("--out", help="folder for dataset_report.json + box_sizes.png (default: the dataset's own folder)")


def _run_dataset_report(args: argparse.Namespace) -> int:
    from .convert import dataset_report

    _write_json(None, dataset_report(Path(args.root), Path(args.out) if args.out else None))
    return 0


def _publish_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--detector", default="runs/detector", help="detector run directory")
    sp.add_argument("--classifier", default="runs/classifier", help="classifier run directory")
    sp.add_argument("--models-dir", default=str(paths.share_dir() / "models"))


def _run_publish(args: argparse.Namespace) -> int:
    from .publish import publish

    publish(Path(args.detector), Path(args.classifier), Path(args.models_dir))
    print(f"published into {args.models_dir}")
    return 0


COMMANDS: tuple[Command, ...] = (
    Command(
        "detector",
        "train the detector (torchrun for several GPUs)",
        _train_arguments("detector", "clustering"),
        _distributed(_run_detector),
    ),
    Command(
        "classifier",
        "train the classifier (torchrun for several GPUs)",
        _train_arguments("classifier", "ROI"),
        _distributed(_run_classifier),
    ),
    Command(
        "qat",
        "quantisation-aware retraining of a trained detector -> Q/DQ ONNX",
        _train_arguments("detector", "clustering"),
        _distributed(_run_detector),
    ),
    Command(
        "calibrate",
        "INT8 calibration cache (TensorRT text format) for a float detector ONNX",
        _calibrate_arguments,
        _run_calibrate,
    ),
    Command(
        "engines",
        "TensorRT engines (Python API) or the exact trtexec / tao-converter commands",
        _engines_arguments,
        _run_engines,
    ),
    Command(
        "deploy",
        "bundle models + models.yaml + node parameters + graph + launch file for a robot",
        _train_arguments("deploy", "to start from"),
        _run_deploy,
    ),
    Command(
        "triton-repo",
        "Triton model repository (python / onnxruntime_onnx / tensorrt_plan flavour)",
        _triton_repo_arguments,
        _run_triton_repo,
    ),
    Command(
        "prune",
        "structured L1 channel pruning (TAO -pth, union across residual adds)",
        _train_arguments("prune", "clustering"),
        _distributed(_run_prune),
    ),
    Command(
        "evaluate-detector",
        "hand AP50/AP70 + PR curve of an ONNX model, through the runtime",
        _evaluate_arguments,
        _evaluate,
    ),
    Command(
        "evaluate-classifier",
        "accuracy / macro-F1 / confusion of an ONNX model, through the runtime",
        _evaluate_arguments,
        _evaluate,
    ),
    Command(
        "convert-egohands",
        "EgoHands _LABELLED_SAMPLES (polygons.mat) -> KITTI + report",
        _convert_egohands_arguments,
        _run_convert_egohands,
    ),
    Command("convert-voc", "Pascal VOC XML -> KITTI + report", _convert_voc_arguments, _run_convert_voc),
    Command(
        "dataset-report",
        "counts per scene and a box-size histogram of a KITTI dataset",
        _dataset_report_arguments,
        _run_dataset_report,
    ),
    Command("publish", "copy trained ONNX models and their metrics into models/", _publish_arguments, _run_publish),
)

#: what the training library raises besides the package's typed errors: bad input, exit code 2
LIBRARY_ERRORS: tuple[tuple[type[BaseException], int], ...] = ((FileNotFoundError, 2), (ValueError, 2), (KeyError, 2))


def build_parser() -> argparse.ArgumentParser:
    """Every step and its arguments (also what tests/test_readme.py parses the README's commands with)."""
    return commands.build_parser("gesture-train", __doc__, COMMANDS)


def main(argv: list[str] | None = None) -> int:
    """Run one step; an error is one line on stderr and its exit code (``gesture_ros.commands``)."""
    return commands.run(
        "gesture-train", build_parser(), COMMANDS, sys.argv[1:] if argv is None else argv, LIBRARY_ERRORS
    )


if __name__ == "__main__":
    sys.exit(main())

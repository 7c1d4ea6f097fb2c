"""``gesture-train``: train the detector and the classifier that the package ships.

Each step writes its ONNX file, a torch checkpoint, ``metrics.json`` and the config it used into
its output directory. Defaults for models and ROI expansion come from ``config/``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from gesture_ros import paths
from gesture_ros.core.model_spec import load_models
from gesture_ros.factory import parameter_values
from gesture_ros.settings import cluster_config, roi_config


def _config(cls: type, args: argparse.Namespace) -> Any:
    base: dict[str, Any] = {}
    if args.config:
        base = yaml.safe_load(Path(args.config).read_text()) or {}
    for f in fields(cls):
        v = getattr(args, f.name, None)
        if v is not None:
            base[f.name] = v
    return cls(**base)


def main(argv: list[str] | None = None) -> int:
    from .train_classifier import ClassifierTrainConfig, train_classifier
    from .train_detector import DetectorTrainConfig, train_detector

    p = argparse.ArgumentParser(prog="gesture-train", description=__doc__)
    sub = p.add_subparsers(dest="step", required=True)
    for name, cls in (("detector", DetectorTrainConfig), ("classifier", ClassifierTrainConfig)):
        sp = sub.add_parser(name, help=f"train the {name}")
        sp.add_argument("--config", help="experiment YAML (fields of the step's config)")
        for f in fields(cls):
            if f.type in ("int", "float", "str"):
                sp.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type={"int": int, "float": float, "str": str}[f.type])
            elif f.name == "val_scenes":
                sp.add_argument("--val-scenes", dest="val_scenes", nargs="*")
    pub = sub.add_parser("publish", help="copy trained ONNX models and their metrics into models/")
    pub.add_argument("--detector", default="runs/detector", help="detector run directory")
    pub.add_argument("--classifier", default="runs/classifier", help="classifier run directory")
    pub.add_argument("--models-dir", default=str(paths.share_dir() / "models"))
    args = p.parse_args(argv)
    if args.step == "publish":
        from .publish import publish

        publish(Path(args.detector), Path(args.classifier), Path(args.models_dir))
        print(f"published into {args.models_dir}")
        return 0
    models = load_models(paths.share_dir() / "config" / "models.yaml")
    values = parameter_values()  # what the nodes use: config/gesture_ros.yaml
    if args.step == "detector":
        train_detector(_config(DetectorTrainConfig, args), models.detector, cluster_config(values))
    else:
        train_classifier(_config(ClassifierTrainConfig, args), models.classifier, roi_config(values))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One directory per experiment: the config it ran with, its log, checkpoints, artefacts, metrics.

Every step of ``gesture-train`` writes into its ``out`` directory through this class, so a run
can always be traced back to the exact settings that made it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

import yaml


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # strict JSON has no NaN
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


@dataclass
class RunOptions:
    """How a training step runs, beside what it trains (both trainers' configs extend this)."""

    checkpoint_every: int = 5  # epochs between checkpoints (0: none)
    resume: str = ""  # "auto": continue from <out>/checkpoints/last.pt when it exists; or a path
    device: str = "auto"  # auto | cpu | cuda
    amp: str = "auto"  # auto (fp16 on CUDA) | off | fp16 | bf16
    progress: bool = True  # a progress bar per epoch on a terminal
    #: decay of an exponential moving average of the weights (0: off); the averaged weights are
    #: the ones exported, the last step's are evaluated beside them (``val_last_step``)
    ema: float = 0.0


class Experiment:
    def __init__(self, out: str | Path, config: Any, *, log: Callable[[str], Any] = print, write: bool = True) -> None:
        """``write=False`` for DDP ranks other than 0: they log nothing and write nothing."""
        self.dir = Path(out)
        self.write = write
        self._log = log
        self.t0 = time.time()
        if write:
            self.dir.mkdir(parents=True, exist_ok=True)
            cfg = asdict(config) if is_dataclass(config) and not isinstance(config, type) else dict(config)
            (self.dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))

    @property
    def checkpoints(self) -> Path:
        return self.dir / "checkpoints"

    def log(self, msg: str) -> None:
        if not self.write:
            return
        self._log(msg)
        with (self.dir / "train.log").open("a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

    def write_json(self, name: str, data: dict[str, Any]) -> Path:
        path = self.dir / name
        if self.write:
            path.write_text(json.dumps(_jsonable(data), indent=2) + "\n")
        return path

    def fit_options(self, opts: RunOptions) -> dict[str, Any]:
        """The keyword arguments of ``loop.fit`` that come from this experiment and its options."""
        return {
            "checkpoint_dir": self.checkpoints,
            "checkpoint_every": opts.checkpoint_every,
            "resume": self.resume_path(opts.resume),
            "log": self.log,
            "progress": opts.progress,
        }

    def finish(
        self, config: Any, metrics: dict[str, Any], onnx_path: Path, parameters: int, val_scenes: set[str]
    ) -> dict[str, Any]:
        """Add what every trained model's metrics record and write ``metrics.json``."""
        metrics["config"] = asdict(config)
        metrics["val_scenes"] = sorted(val_scenes)
        metrics["onnx_bytes"] = onnx_path.stat().st_size
        metrics["parameters"] = parameters
        self.write_json("metrics.json", metrics)
        return metrics

    def resume_path(self, resume: str) -> Path | None:
        """``resume``: empty (fresh start), ``auto`` (this experiment's last.pt if there is one) or a path."""
        if not resume:
            return None
        if resume == "auto":
            last = self.checkpoints / "last.pt"
            return last if last.is_file() else None
        return Path(resume)

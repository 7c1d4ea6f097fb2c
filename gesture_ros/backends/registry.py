"""Backends by name, imported only when asked for.

A backend's module is imported the first time it is created, so a CPU machine never imports
TensorRT or the Triton client, and adding a backend is one :func:`register` call (no base class
that imports its subclasses, no ``if`` chain to edit).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..core.errors import ModelError
from ..core.inference import InferenceBackend

#: name -> "module:Class"; the module is imported lazily
_REGISTRY: dict[str, str] = {}


def register(name: str, target: str) -> None:
    """Make ``create_backend(name, ...)`` build ``target`` ("package.module:Class")."""
    if ":" not in target:
        raise ValueError(f"backend target must be 'module:Class', got '{target}'")
    _REGISTRY[name] = target


def names() -> tuple[str, ...]:
    """The registered backend names, in registration order."""
    return tuple(_REGISTRY)


def create_backend(kind: str, model_file: str | Path, **options: Any) -> InferenceBackend:
    """Build a backend by name; unknown names and load failures raise :class:`ModelError`.

    For ``triton`` the model file is the model's name in the server's repository.
    """
    target = _REGISTRY.get(kind)
    if target is None:
        raise ModelError(f"unknown backend '{kind}' (use one of: {', '.join(_REGISTRY)})")
    module, cls = target.split(":")
    factory = getattr(importlib.import_module(module), cls)
    backend: InferenceBackend = factory(model_file, **options)
    return backend


register("onnxruntime", "gesture_ros.backends.onnxruntime_backend:OnnxRuntimeBackend")
register("openvino", "gesture_ros.backends.openvino_backend:OpenVinoBackend")
register("tensorrt", "gesture_ros.backends.tensorrt_backend:TensorRTBackend")
register("triton", "gesture_ros.backends.triton_backend:TritonBackend")

"""Inference backends behind one interface: ``infer({input: batch}) -> {output: array}``.

The interface and the model check are in :mod:`gesture_ros.core.inference`; this package holds
the implementations, created by name through :mod:`.registry`.
"""

from ..core.inference import InferenceBackend, TensorInfo, check_io
from .registry import create_backend, names, register

__all__ = ["InferenceBackend", "TensorInfo", "check_io", "create_backend", "names", "register"]

"""Inference backends behind one interface: ``infer({input: batch}) -> {output: array}``."""

from .base import BACKENDS, InferenceBackend, TensorInfo, check_io, create_backend

__all__ = ["BACKENDS", "InferenceBackend", "TensorInfo", "check_io", "create_backend"]

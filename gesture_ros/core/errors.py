"""Documented error types: callers (nodes, tools) catch these and report one clear line."""


class GestureRosError(Exception):
    """Base class of every error the package raises on purpose."""


class ImageFormatError(GestureRosError):
    """An image cannot be interpreted (unsupported encoding, inconsistent size, step or data)."""


class ModelError(GestureRosError):
    """A model file or its description is missing, unreadable or inconsistent with the other."""


class ConfigError(GestureRosError):
    """A configuration file or parameter value is invalid."""


class BackendUnavailableError(ModelError):
    """A remote backend (Triton) cannot answer now: server down, restarting, model unloaded,
    timeout. Not fatal: the node keeps running, marks gestures unavailable and reconnects."""


class ServiceError(GestureRosError):
    """A helper process the package starts (a local tritonserver) cannot start or stopped."""

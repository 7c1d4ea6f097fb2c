"""Inference through a Triton Inference Server (tritonclient, gRPC or HTTP).

The server owns the model; this backend checks at start-up that the server is live and ready,
that the model is ready, and that the model's inputs/outputs (names, FP32, dims from the
server's model metadata) match ``config/models.yaml`` (``check_io``, one error naming both sides).
Each ``infer`` is one request carrying the whole batch (all hands of a frame), with a per-request
timeout. With ``shared_memory`` the input tensor goes through a POSIX shared-memory region
registered with the server (same host only) instead of the request body.

A request that fails because the server is down, restarting, overloaded or the model was
unloaded raises :class:`BackendUnavailableError`; the caller keeps going and calls :meth:`reconnect`
later (the nodes do, with backoff).
"""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..core.errors import BackendUnavailableError, ModelError
from ..core.inference import TensorInfo
from .base import Backend

PROTOCOLS = ("grpc", "http")


def _client_module(protocol: str) -> Any:
    if protocol == "grpc":
        import tritonclient.grpc as client
    elif protocol == "http":
        import tritonclient.http as client
    else:
        raise ModelError(f"triton protocol must be grpc or http, got {protocol!r}")
    return client


class TritonBackend(Backend):
    """A model served by a Triton Inference Server (gRPC or HTTP, optional shared memory); its
    failures are :class:`BackendUnavailableError`, so a node keeps running and reconnects."""

    name = "triton"

    def __init__(
        self,
        model_name: str | Path,
        url: str = "127.0.0.1:8001",
        *,
        protocol: str = "grpc",
        model_version: str = "",
        timeout_s: float = 1.0,
        shared_memory: bool = False,
        max_batch: int = 8,
        ssl: bool = False,
        root_certificates: str = "",
        lazy: bool = False,
    ) -> None:
        """``lazy``: a server that is not up yet is not an error; :attr:`connected` stays False
        and :meth:`reconnect` connects later (a node can start before its server)."""
        self.model_name = str(model_name)  # the name in the server's repository (may come as a Path)
        self.model_version = model_version
        self.url = url
        self.protocol = protocol
        self.timeout_s = timeout_s
        self.use_shm = shared_memory
        self.max_batch = max_batch
        self._mod = _client_module(protocol)
        from tritonclient.utils import InferenceServerException

        self._exc = InferenceServerException
        self._lock = threading.Lock()
        self._shm: Any = None
        self._shm_name = ""
        self._shm_bytes = 0
        self.client = self._connect(ssl, root_certificates)
        self._inputs: list[TensorInfo] = []
        self._outputs: list[TensorInfo] = []
        self.pending_error = ""
        try:
            self._load_metadata()
        except BackendUnavailableError as exc:
            if not lazy:
                self.close()
                raise ModelError(str(exc)) from None
            self.pending_error = str(exc)

    @property
    def connected(self) -> bool:
        """Whether the model's metadata has been read from the server (False until it answers)."""
        return bool(self._inputs)

    # --- connection and start-up checks ---------------------------------------------------------

    def _connect(self, ssl: bool, root_certificates: str) -> Any:
        if self.protocol == "grpc":
            kw: dict[str, Any] = {"ssl": ssl}
            if root_certificates:
                kw["root_certificates"] = root_certificates
            return self._mod.InferenceServerClient(self.url, **kw)
        t = max(self.timeout_s, 0.1)
        return self._mod.InferenceServerClient(self.url, ssl=ssl, connection_timeout=t, network_timeout=t)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """One client call; transport and server errors become :class:`BackendUnavailableError`."""
        if self.protocol == "grpc":
            kwargs.setdefault("client_timeout", self.timeout_s)
        try:
            return fn(*args, **kwargs)
        except self._exc as exc:
            raise BackendUnavailableError(f"triton {self.url}: {what}: {exc.message() or exc}") from None
        except (OSError, TimeoutError) as exc:  # HTTP transport errors (connection refused, timeouts)
            raise BackendUnavailableError(f"triton {self.url}: {what}: {exc}") from None

    def _load_metadata(self) -> None:
        if not self._call("server live", self.client.is_server_live):
            raise BackendUnavailableError(f"triton {self.url}: server is not live")
        if not self._call("server ready", self.client.is_server_ready):
            raise BackendUnavailableError(f"triton {self.url}: server is not ready")
        if not self._call("model ready", self.client.is_model_ready, self.model_name, self.model_version):
            raise BackendUnavailableError(
                f"triton {self.url}: model '{self.model_name}' is not ready (not in the repository, or failed to load)"
            )
        kwargs = {"as_json": True} if self.protocol == "grpc" else {}
        meta = self._call(
            "model metadata", self.client.get_model_metadata, self.model_name, self.model_version, **kwargs
        )
        cfg = self._call("model config", self.client.get_model_config, self.model_name, self.model_version, **kwargs)
        cfg = cfg.get("config", cfg)
        server_max = int(cfg.get("max_batch_size", 0) or 0)
        if server_max and server_max < self.max_batch:
            raise ModelError(
                f"triton model '{self.model_name}': max_batch_size "
                f"{server_max} in its config.pbtxt but the node sends up to "
                f"{self.max_batch} hands per request (classifier.max_batch)"
            )

        def infos(items: list[dict[str, Any]]) -> list[TensorInfo]:
            out = []
            for t in items:
                if t["datatype"] != "FP32":
                    raise ModelError(
                        f"triton model '{self.model_name}': tensor '{t['name']}' "
                        f"is {t['datatype']}, the node sends/reads FP32"
                    )
                out.append(TensorInfo(t["name"], tuple(int(d) for d in t["shape"])))
            return out

        self._inputs, self._outputs = infos(meta["inputs"]), infos(meta["outputs"])
        if self.use_shm:
            self._setup_shm()

    def reconnect(self) -> bool:
        """Check the server and model again (after a fault); True when requests can resume."""
        with self._lock:
            try:
                self._release_shm()  # unregistered on a live server (after a timeout); gone with a dead one
                self._inputs, self._outputs = [], []
                self._load_metadata()
            except (BackendUnavailableError, ModelError) as exc:
                self._inputs, self._outputs = [], []
                self.pending_error = str(exc)
                return False
            return True

    # --- shared memory for the input tensor -------------------------------------------------------

    def _setup_shm(self) -> None:
        import tritonclient.utils.shared_memory as shm

        inp = self._inputs[0]
        self._shm_bytes = int(np.prod([d for d in inp.shape[1:]])) * 4 * self.max_batch
        self._shm_name = f"gesture_ros_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._shm = shm.create_shared_memory_region(self._shm_name, "/" + self._shm_name, self._shm_bytes)
        key = "/" + self._shm_name
        self._call(
            "register shared memory", self.client.register_system_shared_memory, self._shm_name, key, self._shm_bytes
        )

    def _release_shm(self, unregister: bool = True) -> None:
        if self._shm is None:
            return
        import tritonclient.utils.shared_memory as shm

        if unregister:
            with contextlib.suppress(BackendUnavailableError):  # the server is gone: nothing registered any more
                self._call("unregister shared memory", self.client.unregister_system_shared_memory, self._shm_name)
        shm.destroy_shared_memory_region(self._shm)
        self._shm = None

    # --- InferenceBackend -------------------------------------------------------------------------

    def infer(self, feeds: dict[str, npt.NDArray[np.float32]]) -> dict[str, npt.NDArray[np.float32]]:
        """One request; a transport or server error is :class:`BackendUnavailableError`."""
        with self._lock:
            if not self._inputs:
                raise BackendUnavailableError(f"triton {self.url}: not connected")
            inputs = []
            for name, arr in feeds.items():
                a = np.ascontiguousarray(arr, dtype=np.float32)
                t = self._mod.InferInput(name, list(a.shape), "FP32")
                if self._shm is not None and a.nbytes <= self._shm_bytes:
                    import tritonclient.utils.shared_memory as shm

                    shm.set_shared_memory_region(self._shm, [a])
                    t.set_shared_memory(self._shm_name, a.nbytes)
                else:
                    t.set_data_from_numpy(a)
                inputs.append(t)
            outputs = [self._mod.InferRequestedOutput(o.name) for o in self._outputs]
            kwargs: dict[str, Any] = {"model_version": self.model_version, "outputs": outputs}
            if self.protocol == "http":
                kwargs["timeout"] = int(self.timeout_s * 1e6)  # server-side, microseconds
            result = self._call("infer", self.client.infer, self.model_name, inputs, **kwargs)
            out = {o.name: result.as_numpy(o.name) for o in self._outputs}
        n = next(iter(feeds.values())).shape[0]
        for name, arr in out.items():
            if arr is None or arr.shape[0] != n:
                raise BackendUnavailableError(
                    f"triton {self.url}: output '{name}' missing or of the wrong batch size in the response"
                )
        return out

    def close(self) -> None:
        """Unregister and free the shared-memory region, close the connection (never raises)."""
        with self._lock:
            self._release_shm()
            with contextlib.suppress(Exception):  # closing a dead connection must not raise
                self.client.close()

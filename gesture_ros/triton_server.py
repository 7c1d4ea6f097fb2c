"""A local Triton Inference Server for development and tests: the real ``tritonserver`` binary
that the ``nvidia-pytriton`` wheel ships (CPU, Python backend only), run from its own venv.

Two traps of that binary are handled here (see ../shared/ENVIRONMENT.md): the Python-backend stub
links the interpreter's ``libpython`` (its directory goes on ``LD_LIBRARY_PATH``), and it must run
with the venv's numpy<2 (the venv's ``bin`` leads ``PATH``; with numpy 2 the server answers with
empty outputs and logs nothing). The server binds to 127.0.0.1 only and is stopped by its own PID.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .core.errors import ServiceError

DEFAULT_VENV = ".venv-triton"


@dataclass(frozen=True)
class TritonInstall:
    python: Path
    package: Path  # .../site-packages/pytriton/tritonserver
    libs: tuple[Path, ...]
    python_version: str

    @property
    def binary(self) -> Path:
        return self.package / "bin" / "tritonserver"


def locate(venv: str | Path = DEFAULT_VENV) -> TritonInstall:
    """The tritonserver of the pytriton wheel installed in ``venv`` (scripts/setup_triton.sh)."""
    py = Path(venv) / "bin" / "python"
    if not py.is_file():
        raise ServiceError(f"no Triton venv at {venv} (run: bash scripts/setup_triton.sh)")
    probe = (
        "import json, sys, sysconfig, pathlib, pytriton;"
        "p = pathlib.Path(pytriton.__file__).parent;"
        "print(json.dumps({'pkg': str(p / 'tritonserver'), 'site': str(p.parent),"
        "'libdir': sysconfig.get_config_var('LIBDIR'),"
        "'ver': f'{sys.version_info[0]}.{sys.version_info[1]}'}))"
    )
    info = json.loads(subprocess.run([str(py), "-c", probe], capture_output=True, text=True, check=True).stdout)
    site = Path(info["site"])
    libs = tuple(p for p in (site / "nvidia_pytriton.libs", Path(info["libdir"])) if p.is_dir())
    return TritonInstall(py, Path(info["pkg"]), libs, info["ver"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TritonServer:
    repo: Path
    http_port: int
    grpc_port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path = field(default_factory=Path)

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=1.0) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to our own server process (never by name), SIGKILL if it does not go."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> TritonServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    repo: str | Path,
    venv: str | Path = DEFAULT_VENV,
    *,
    http_port: int = 0,
    grpc_port: int = 0,
    metrics_port: int = 0,
    log_path: str | Path | None = None,
    timeout: float = 60.0,
    extra_args: tuple[str, ...] = (),
) -> TritonServer:
    """Start ``tritonserver`` on ``repo`` (ports 0: free ones) and wait until it is ready."""
    inst = locate(venv)
    repo = Path(repo).resolve()
    if not repo.is_dir():
        raise ServiceError(f"model repository not found: {repo}")
    work = Path(tempfile.mkdtemp(prefix="gesture_ros_triton_"))
    backends = work / "backends"
    shutil.copytree(inst.package / "backends", backends)
    stub = inst.package / "python_backend_stubs" / inst.python_version / "triton_python_backend_stub"
    shutil.copy2(stub, backends / "python" / "triton_python_backend_stub")
    ports = [p or free_port() for p in (http_port, grpc_port, metrics_port)]
    log = Path(log_path) if log_path else work / "tritonserver.log"
    venv_bin = str(inst.python.parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(inst.python.parent.parent),
        "LD_LIBRARY_PATH": ":".join([str(p) for p in inst.libs] + [os.environ.get("LD_LIBRARY_PATH", "")]),
        "PYTHONNOUSERSITE": "1",
    }
    env.pop("PYTHONPATH", None)  # the server's Python must not see this venv's numpy 2
    cmd = [
        str(inst.binary),
        f"--model-repository={repo}",
        f"--backend-directory={backends}",
        "--http-address=127.0.0.1",
        f"--http-port={ports[0]}",
        "--grpc-address=127.0.0.1",
        f"--grpc-port={ports[1]}",
        "--metrics-address=127.0.0.1",
        f"--metrics-port={ports[2]}",
        "--log-verbose=0",
        *extra_args,
    ]
    with log.open("wb") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = TritonServer(repo, ports[0], ports[1], ports[2], proc, log, work)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = server.log_tail()
            server.stop()
            raise ServiceError(f"tritonserver exited with {proc.returncode} while starting:\n{tail}")
        if server.ready():
            return server
        time.sleep(0.2)
    tail = server.log_tail()
    server.stop()
    raise ServiceError(f"tritonserver not ready after {timeout:.0f} s:\n{tail}")


def serve(
    repo: str | Path, venv: str | Path = DEFAULT_VENV, *, http_port: int = 0, grpc_port: int = 0, metrics_port: int = 0
) -> int:
    """Run ``tritonserver`` on ``repo`` until SIGINT/SIGTERM (``gesture-ros triton-server``).

    Returns 0 after a signal; a server that exits by itself raises :class:`ServiceError` with
    the end of its log.
    """
    server = start(repo, venv, http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port)
    print(
        f"tritonserver (pid {server.process.pid}) on {repo}: gRPC "
        f"{server.grpc_url}, HTTP {server.http_url}; Ctrl-C stops it",
        flush=True,
    )
    stop = False

    def on_signal(*_: object) -> None:
        nonlocal stop
        stop = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop and server.process.poll() is None:
            time.sleep(0.2)
    finally:
        code = server.process.poll()
        server.stop()
        for s, h in old.items():
            signal.signal(s, h)
    if code is not None and not stop:
        raise ServiceError(f"tritonserver exited with {code}:\n{server.log_tail()}")
    return 0

"""``gesture-ros up``: start a graph description as separate processes (what ``ros2 launch``
does on a robot), forward Ctrl-C, and stop the graph when a required node ends."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from . import paths
from .core.yamlfile import read_yaml
from .graph import NodeLaunch, load_graph, nested, resolve


def node_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for node processes: the shipped Fast DDS profile unless the user set one."""
    env = dict(base if base is not None else os.environ)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(paths.share_dir() / "config" / "fastdds_shm.xml"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def node_command(launch: NodeLaunch, run_dir: Path, extra_ros_args: list[str] | None = None) -> list[str]:
    override = run_dir / f"{launch.name}.params.yaml"
    override.write_text(yaml.safe_dump({"/**": {"ros__parameters": nested(launch.overrides)}}, sort_keys=True))
    cmd = [sys.executable, "-m", launch.module, "--ros-args", "-r", f"__node:={launch.name}"]
    for f in launch.params_files:
        cmd += ["--params-file", f]
    cmd += ["--params-file", str(override)]
    return cmd + list(extra_ros_args or [])


def _stop(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 5.0) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in procs.values() if p.poll() is None]
        if not alive:
            return
        for p in alive:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(p.poll() is None for p in alive):
            time.sleep(0.05)


def up(
    graph_file: str, values: dict[str, str], extra_ros_args: list[str] | None = None, env: dict[str, str] | None = None
) -> int:
    graph = load_graph(graph_file)
    launches = resolve(graph, values)
    for f in sorted({f for n in launches for f in n.params_files}):
        read_yaml(f, "params file")  # one ConfigError here rather than a traceback from every node
    run_dir = Path(tempfile.mkdtemp(prefix=f"gesture_ros_{graph.name}_"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    stopping = {"flag": False}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    node_environment = {**node_env(env), **graph.environment}
    print(f"[gesture-ros] starting {graph.name}: {', '.join(n.name for n in launches)}", flush=True)
    try:
        for n in launches:
            procs[n.name] = subprocess.Popen(node_command(n, run_dir, extra_ros_args), env=node_environment)
        required = {n.name for n in launches if n.required}
        status = 0
        ended: set[str] = set()
        while not stopping["flag"]:
            for name, p in procs.items():
                code = p.poll()
                if code is None or name in ended:
                    continue
                ended.add(name)
                if code != 0:
                    print(f"[gesture-ros] node '{name}' exited with code {code}", flush=True)
                    status = status or code
                if name in required:
                    print(
                        f"[gesture-ros] required node '{name}' ended; "
                        f"stopping the graph in {graph.grace_period_s:.1f} s",
                        flush=True,
                    )
                    deadline = time.monotonic() + graph.grace_period_s
                    while time.monotonic() < deadline and not stopping["flag"]:
                        time.sleep(0.05)
                    stopping["flag"] = True
            if len(ended) == len(procs):
                break
            time.sleep(0.05)
        _stop(procs)
        return status
    finally:
        _stop(procs)
        for s, h in old.items():
            signal.signal(s, h)
        shutil.rmtree(run_dir, ignore_errors=True)  # the nodes read their parameter files at start

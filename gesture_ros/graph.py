"""Graph descriptions (config/graph_*.yaml): which nodes run, with which parameters.

The same description drives ``ros2 launch gesture_ros gesture_pipeline.launch.py`` on a robot
and ``gesture-ros up`` here (where ROS ``launch`` is not installable), so the two cannot drift.
Launch arguments map to parameter overrides: an empty value means "keep the params file's".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import paths
from .core.errors import ConfigError
from .core.yamlfile import read_yaml
from .settings import PARAMS


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    #: parameters this argument sets (for every node that declares them)
    sets: tuple[str, ...] = ()
    #: node names that run only when the argument is true
    enables: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeEntry:
    name: str
    executable: str
    required: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Graph:
    name: str
    description: str
    arguments: dict[str, Argument]
    nodes: tuple[NodeEntry, ...]
    grace_period_s: float = 3.0
    #: the folder of the graph file: what ``${GESTURE_ROS_GRAPH_DIR}`` means for this graph
    directory: str = ""

    @property
    def environment(self) -> dict[str, str]:
        """What the graph's node processes need in their environment: the graph's folder, so
        their params and models files can name files beside them (deploy bundles)."""
        return {GRAPH_DIR_VAR: self.directory} if self.directory else {}

    def expand(self, text: str) -> str:
        """``text`` with ``${GESTURE_ROS_GRAPH_DIR}`` replaced by this graph's folder (whatever
        the variable holds in this process: several graphs can be loaded by one process)."""
        if not self.directory:
            return text
        return text.replace(f"${{{GRAPH_DIR_VAR}}}", self.directory).replace(f"${GRAPH_DIR_VAR}", self.directory)


@dataclass(frozen=True)
class NodeLaunch:
    """A node ready to start: params files first, then overrides (later wins)."""

    name: str
    executable: str
    module: str
    required: bool
    params_files: tuple[str, ...]
    overrides: dict[str, Any]


EXECUTABLES = {
    "camera_node": "gesture_ros.nodes.camera_node",
    "hand_detector_node": "gesture_ros.nodes.hand_detector_node",
    "roi_node": "gesture_ros.nodes.roi_node",
    "gesture_classifier_node": "gesture_ros.nodes.gesture_classifier_node",
    "gesture_pipeline_node": "gesture_ros.nodes.gesture_pipeline_node",
    "overlay_node": "gesture_ros.nodes.overlay_node",
    "gesture_echo": "gesture_ros.nodes.echo_node",
}

TRUE = ("1", "true", "yes", "on")


#: a graph, its params file and its models file can name files beside the graph file as
#: ``${GESTURE_ROS_GRAPH_DIR}/...`` (deploy bundles do); :meth:`Graph.expand` resolves it in the
#: graph, and whoever starts the nodes passes :attr:`Graph.environment` to them (the bring-up,
#: the launch description); loading a graph changes nothing in the process's environment
GRAPH_DIR_VAR = "GESTURE_ROS_GRAPH_DIR"


def load_graph(path: str | Path) -> Graph:
    p = paths.resolve(path)
    raw = read_yaml(p, "graph file")
    if not isinstance(raw, dict) or not isinstance(raw.get("nodes"), list):
        raise ConfigError(f"graph file {p} needs a 'nodes' list")
    raw_args: dict[str, Any] = {}
    if raw.get("arguments_from"):
        raw_args.update(read_yaml(paths.resolve(raw["arguments_from"]), f"arguments_from of graph {p}") or {})
    raw_args.update(raw.get("arguments") or {})
    args = {}
    for name, a in raw_args.items():
        a = a or {}
        for s in a.get("sets", []):
            if s not in PARAMS:
                raise ConfigError(f"graph {p}: argument '{name}' sets unknown parameter '{s}'")
        args[name] = Argument(
            name,
            str(a.get("default", "")),
            str(a.get("description", "")),
            tuple(a.get("sets", [])),
            tuple(a.get("enables", [])),
        )
    nodes = []
    for n in raw["nodes"]:
        if n.get("executable") not in EXECUTABLES:
            raise ConfigError(
                f"graph {p}: unknown executable {n.get('executable')!r} (known: {', '.join(EXECUTABLES)})"
            )
        params = dict(n.get("parameters") or {})
        for k in params:
            if k not in PARAMS:
                raise ConfigError(f"graph {p}: node '{n['name']}' sets unknown parameter '{k}'")
        nodes.append(NodeEntry(str(n["name"]), str(n["executable"]), bool(n.get("required", False)), params))
    return Graph(
        str(raw.get("name", p.stem)),
        str(raw.get("description", "")),
        args,
        tuple(nodes),
        float(raw.get("grace_period_s", 3.0)),
        str(p.resolve().parent),
    )


def resolve(graph: Graph, values: dict[str, str]) -> list[NodeLaunch]:
    """Apply launch-argument values (strings, as ``name:=value`` gives them)."""
    unknown = set(values) - set(graph.arguments)
    if unknown:
        raise ConfigError(
            f"unknown launch argument(s) {', '.join(sorted(unknown))} (known: {', '.join(graph.arguments)})"
        )
    v = {k: values.get(k, a.default) for k, a in graph.arguments.items()}
    disabled = {n for k, a in graph.arguments.items() if a.enables and v[k].lower() not in TRUE for n in a.enables}
    params_file = v.get("params_file", "")
    files = (str(paths.resolve(graph.expand(params_file))),) if params_file else ()
    overrides: dict[str, Any] = {}
    for k, a in graph.arguments.items():
        if v[k] == "" or not a.sets:
            continue
        for pname in a.sets:
            overrides[pname] = coerce(pname, graph.expand(v[k]))
    launches = []
    for n in graph.nodes:
        if n.name in disabled:
            continue
        launches.append(
            NodeLaunch(
                n.name, n.executable, EXECUTABLES[n.executable], n.required, files, {**n.parameters, **overrides}
            )
        )
    return launches


def coerce(param: str, text: str) -> Any:
    """A launch-argument string as the parameter's type."""
    default = PARAMS[param].default
    try:
        if isinstance(default, bool):
            return text.lower() in TRUE
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError:
        raise ConfigError(f"argument for {param}: {text!r} is not a {type(default).__name__}") from None
    return text


def nested(params: dict[str, Any]) -> dict[str, Any]:
    """Dotted parameter names as the nested mapping a ROS params file uses."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out

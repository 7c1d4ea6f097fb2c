"""``gesture-ros``: the package's command line (bring-up and helpers)."""

from __future__ import annotations

import argparse
import sys

from .core.errors import GestureRosError


def _launch_values(items: list[str]) -> dict[str, str]:
    values = {}
    for item in items:
        if ":=" not in item:
            raise GestureRosError(f"launch arguments are name:=value, got {item!r}")
        k, v = item.split(":=", 1)
        values[k] = v
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gesture-ros", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a graph description (config/graph_*.yaml) like ros2 launch")
    p_up.add_argument("graph", help="graph file, e.g. config/graph_fused.yaml")
    p_up.add_argument("arguments", nargs="*", help="launch arguments name:=value")
    p_up.add_argument("--ros-args", dest="ros_args", nargs=argparse.REMAINDER, default=[], help="passed to every node")
    p_args = sub.add_parser("args", help="list a graph's launch arguments")
    p_args.add_argument("graph")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            from .bringup import up

            extra = ["--ros-args", *args.ros_args] if args.ros_args else []
            # rcl accepts several --ros-args blocks; the extra block goes after the params files
            return up(args.graph, _launch_values(args.arguments), [a for a in extra if a != "--ros-args"] if extra else None)
        if args.command == "args":
            from .graph import load_graph

            g = load_graph(args.graph)
            for a in g.arguments.values():
                print(f"{a.name}:={a.default!r:<28} {a.description}")
            return 0
    except GestureRosError as exc:
        print(f"gesture-ros: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

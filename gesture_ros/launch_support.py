"""Builds a ROS ``LaunchDescription`` from a graph description (config/graph_*.yaml).

The launch files in ``launch/`` are one call to :func:`launch_description`; ``gesture-ros up``
reads the same graph files, so the robot and the desk run the same graph.
"""

from __future__ import annotations

from typing import Any

from . import paths
from .graph import load_graph, resolve


def launch_description(graph_file: str) -> Any:
    """``graph_file``: a name in the package's ``config/`` or a path (deploy bundles)."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
    from launch.substitutions import EnvironmentVariable, LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription  # type: ignore[attr-defined]

    graph = load_graph(paths.resolve(graph_file, paths.share_dir() / "config"))

    def nodes(context: Any) -> list[Any]:
        values = {name: LaunchConfiguration(name).perform(context) for name in graph.arguments}
        return [
            Node(
                package="gesture_ros",
                executable=n.executable,
                name=n.name,
                output="screen",
                parameters=[*n.params_files, n.overrides],
            )
            for n in resolve(graph, values)
        ]

    profile = str(paths.share_dir() / "config" / "fastdds_shm.xml")
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in graph.arguments.values()
            ),
            # the shipped shared-memory profile, unless the user chose one
            SetEnvironmentVariable(
                "FASTDDS_DEFAULT_PROFILES_FILE",
                EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", default_value=profile),
            ),
            # the nodes' params and models files may name files beside the graph (deploy bundles)
            *(SetEnvironmentVariable(k, v) for k, v in graph.environment.items()),
            OpaqueFunction(function=nodes),
        ]
    )

"""Config files, parameters, graph descriptions and launch files agree with each other."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml

from gesture_ros.core.errors import ConfigError
from gesture_ros.core.model_spec import load_models, parse_models
from gesture_ros.graph import load_graph, nested, resolve
from gesture_ros.settings import PARAMS, check_all, load_params_file

ROOT = Path(__file__).resolve().parent.parent


def test_params_file_sets_every_parameter_with_valid_values() -> None:
    flat = load_params_file(ROOT / "config" / "gesture_ros.yaml")
    assert check_all(flat) == []
    assert set(flat) == set(PARAMS), "config/gesture_ros.yaml and gesture_ros/settings.py list different parameters"
    # the shipped file is the documented default: a node started without it behaves the same
    assert {k: v for k, v in flat.items() if v != PARAMS[k].default} == {}


def test_param_checks_name_the_problem() -> None:
    assert "must be one of" in (PARAMS["detector.clustering"].check("kmeans") or "")
    assert "must be <= 1.0" in (PARAMS["detector.coverage_threshold"].check(1.5) or "")
    assert "must be float, got str" in (PARAMS["roi.ratio"].check("big") or "")
    assert PARAMS["roi.ratio"].check(2) is None  # an int for a float parameter is fine
    assert check_all({"nope": 1}) == ["unknown parameter 'nope'"]


def test_models_file_is_the_one_description(models) -> None:
    assert models.detector.input.name == "input_1"
    assert (
        models.detector.coverage_output == "output_cov/Sigmoid" and models.detector.bbox_output == "output_bbox/BiasAdd"
    )
    assert (models.classifier.input.height, models.classifier.input.width, models.classifier.output) == (
        160,
        160,
        "activation_18",
    )
    assert models.classifier.labels == ("thumbs_up", "fist", "stop", "ok", "two", "random")
    assert models.classifier.input.normalisation.mean == (128.0,) * 3


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ({"detector": None}, "must have 'detector' and 'classifier'"),
        ({"detector.input.shape": [3, 100, 512]}, "not a multiple of stride"),
        ({"detector.input.shape": [1, 288, 512]}, "only 3-channel"),
        ({"detector.size_multiple": 24}, "size_multiple 24 must be 0 or a multiple of stride 16"),
        ({"detector.size_multiple": 64}, "that divides the input 288x512"),
        ({"classifier.input.color": "yuv"}, "must be 'rgb' or 'bgr'"),
        ({"classifier.input.normalisation": {"mean": [1, 2]}}, "3 numbers"),
        ({"classifier.output": None}, "missing key 'output'"),
    ],
)
def test_bad_models_files_are_one_clear_error(patch: dict[str, Any], match: str) -> None:
    raw = yaml.safe_load((ROOT / "config" / "models.yaml").read_text())
    for dotted, value in patch.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for p in parents:
            node = node[p]
        if value is None:
            del node[leaf]
        else:
            node[leaf] = value
    with pytest.raises(ConfigError, match=match):
        parse_models(raw)


def test_missing_and_malformed_models_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_models(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_models(bad)


def test_graphs_resolve_launch_arguments() -> None:
    g = load_graph("config/graph_separate.yaml")
    names = [n.name for n in resolve(g, {})]
    assert names == ["camera", "hand_detector", "roi", "gesture_classifier", "overlay"]  # echo off by default
    launches = resolve(g, {"camera": "false", "backend": "tensorrt", "image_topic": "/robot/cam", "camera_rate": "15"})
    assert "camera" not in [n.name for n in launches]
    det = next(n for n in launches if n.name == "hand_detector")
    assert det.overrides["detector.backend"] == "tensorrt" and det.overrides["classifier.backend"] == "tensorrt"
    assert det.overrides["image_topic"] == "/robot/cam" and det.overrides["camera.rate"] == 15.0
    assert det.params_files[0].endswith("config/gesture_ros.yaml")
    fused = load_graph("config/graph_fused.yaml")
    assert [n.name for n in resolve(fused, {"echo": "true"})] == ["camera", "gesture_pipeline", "echo"]
    with pytest.raises(ConfigError, match="unknown launch argument"):
        resolve(g, {"bakend": "x"})
    with pytest.raises(ConfigError, match="is not a float"):
        resolve(g, {"camera_rate": "fast"})
    assert nested({"a.b": 1, "a.c": 2, "d": 3}) == {"a": {"b": 1, "c": 2}, "d": 3}


def test_graph_errors(tmp_path: Path) -> None:
    bad = tmp_path / "g.yaml"
    bad.write_text("nodes:\n  - {name: x, executable: rm_rf_node}\n")
    with pytest.raises(ConfigError, match="unknown executable"):
        load_graph(bad)
    bad.write_text("nodes:\n  - {name: x, executable: roi_node, parameters: {roi.ration: 2}}\n")
    with pytest.raises(ConfigError, match=r"unknown parameter 'roi\.ration'"):
        load_graph(bad)


def test_loading_graphs_leaves_the_environment_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22, defect 6: load_graph set GESTURE_ROS_GRAPH_DIR in the process as a side effect,
    so the second of two graphs loaded by one process moved the first one's files."""
    import os

    monkeypatch.setenv("GESTURE_ROS_GRAPH_DIR", "/elsewhere")
    graphs = {}
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "g.yaml").write_text(
            "arguments:\n  params_file: {default: '${GESTURE_ROS_GRAPH_DIR}/p.yaml'}\nnodes:\n  - {name: roi, executable: roi_node}\n"
        )
        graphs[d] = load_graph(tmp_path / d / "g.yaml")
    assert os.environ["GESTURE_ROS_GRAPH_DIR"] == "/elsewhere"
    for d, g in graphs.items():
        assert resolve(g, {})[0].params_files == (str(tmp_path / d / "p.yaml"),)
        assert g.environment == {"GESTURE_ROS_GRAPH_DIR": str(tmp_path / d)}


def evaluate_launch(ld: Any, values: dict[str, str]) -> dict[str, Any]:
    """What the real ``launch`` makes of a launch description given ``values`` for its arguments
    (the defaults otherwise): the declared defaults, the environment it sets and the nodes it
    starts as (package, executable). ``ros2 launch`` itself is run in tests/test_ros2_tools.py."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
    from launch.utilities import perform_substitutions

    from launch import LaunchContext  # type: ignore[attr-defined]

    context = LaunchContext()
    declared = {
        a.name: perform_substitutions(context, a.default_value)
        for a in ld.entities
        if isinstance(a, DeclareLaunchArgument)
    }
    context.launch_configurations.update({**declared, **values})
    env = {
        perform_substitutions(context, a.name): perform_substitutions(context, a.value)
        for a in ld.entities
        if isinstance(a, SetEnvironmentVariable)
    }
    opaque = [a for a in ld.entities if isinstance(a, OpaqueFunction)]
    nodes = [(n.node_package, n.node_executable) for a in opaque for n in a.execute(context) or []]
    return {"declared": declared, "env": env, "nodes": nodes}


LAUNCH = pytest.mark.skipif(
    importlib.util.find_spec("launch_ros") is None,
    reason="launch / launch_ros are not installed (../shared/third_party/ros2 absent at set-up)",
)


@LAUNCH
@pytest.mark.parametrize(
    ("launch_file", "executables"),
    [
        ("gesture_pipeline.launch.py", ["hand_detector_node", "roi_node", "gesture_classifier_node", "overlay_node"]),
        ("gesture_fused.launch.py", ["gesture_pipeline_node"]),
    ],
)
def test_launch_files_build_the_graph(launch_file: str, executables: list[str]) -> None:
    import runpy

    ld = runpy.run_path(str(ROOT / "launch" / launch_file))["generate_launch_description"]()
    got = evaluate_launch(ld, {"camera": "false", "backend": "tensorrt"})
    assert {"params_file", "image_topic", "backend", "detector_model", "classifier_model"} <= set(got["declared"])
    assert got["declared"]["params_file"].endswith("config/gesture_ros.yaml")
    assert got["nodes"] == [("gesture_ros", e) for e in executables]  # camera:=false: no camera node
    assert got["env"]["FASTDDS_DEFAULT_PROFILES_FILE"]  # the shipped profile unless the user set one
    with_camera = evaluate_launch(ld, {})
    assert with_camera["nodes"][0] == ("gesture_ros", "camera_node")


def test_core_defaults_are_the_parameter_tables() -> None:
    """The core's config objects default to what the parameter table says (issue 22, defect 6:
    ClusterConfig.top_k was 0 in the core and 4 in the nodes), so training, evaluation and tests
    that build them bare see what a node with default parameters does."""
    from gesture_ros.core.tracking import Debouncer, HandTracking, IouTracker, TrackingConfig
    from gesture_ros.settings import GROUPS, PARAMS

    defaults = {n: p.default for n, p in PARAMS.items()}
    for group in GROUPS.values():  # every typed group: ClusterConfig, RoiConfig, TrackingConfig, ReconnectConfig
        assert group.make() == group.build(defaults), group.name
    tracking = HandTracking(TrackingConfig())
    assert tracking.tracker is not None and tracking.debouncer is not None
    assert vars(IouTracker()) == vars(tracking.tracker) and vars(Debouncer()) == vars(tracking.debouncer)


def test_writable_parameters_are_exactly_the_groups() -> None:
    """A parameter is writable when a group makes it part of a typed value the nodes apply; the
    group's fields are its typed value's fields, one parameter each."""
    import dataclasses

    from gesture_ros.settings import GROUPS, PARAMS, group_of

    writable = {n for n, p in PARAMS.items() if not p.read_only}
    assert writable == {p for g in GROUPS.values() for p in g.params}
    for g in GROUPS.values():
        assert set(g.fields.values()) <= {f.name for f in dataclasses.fields(g.make)}, g.name
        assert all(group_of(p) is g for p in g.params)

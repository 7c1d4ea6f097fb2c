"""Triton model repository flavours and the deploy bundle (params + models.yaml + graph + launch
file), which the package's bring-up runs here and `ros2 launch` runs on a robot."""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gesture_ros.training.cli import main as train_cli

ROOT = Path(__file__).resolve().parent.parent


def test_triton_repository_flavours(tmp_path: Path, models, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    assert (
        train_cli(
            [
                "triton-repo",
                "--out",
                str(repo),
                "--max-batch",
                "8",
                "--detector",
                str(ROOT / "models" / "hand_detector.onnx"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    cfg = (repo / "gesture_classifier" / "config.pbtxt").read_text()
    assert 'backend: "python"' in cfg and "max_batch_size: 8" in cfg
    assert (
        'name: "input_1"' in cfg
        and "dims: [ 3, 160, 160 ]" in cfg
        and 'name: "activation_18"' in cfg
        and "dims: [ 6 ]" in cfg
    )
    assert "dynamic_batching {\n  preferred_batch_size: [ 4, 8 ]\n  max_queue_delay_microseconds: 500\n}" in cfg
    assert (repo / "gesture_classifier" / "1" / "model.onnx").read_bytes() == (
        ROOT / "models" / "gesture_classifier.onnx"
    ).read_bytes()
    py_compile.compile(str(repo / "gesture_classifier" / "1" / "model.py"), doraise=True)
    det = (repo / "hand_detector" / "config.pbtxt").read_text()
    gh, gw = models.detector.grid
    assert (
        'name: "output_cov/Sigmoid"' in det and f"dims: [ 1, {gh}, {gw} ]" in det and f"dims: [ 4, {gh}, {gw} ]" in det
    )
    assert "dynamic_batching" not in det
    assert train_cli(["triton-repo", "--out", str(tmp_path / "ort"), "--flavour", "onnxruntime_onnx"]) == 0
    assert 'platform: "onnxruntime_onnx"' in (tmp_path / "ort" / "gesture_classifier" / "config.pbtxt").read_text()
    assert not (tmp_path / "ort" / "gesture_classifier" / "1" / "model.py").exists()
    # a plan needs an engine; an ONNX is refused with one line
    assert (
        train_cli(["triton-repo", "--out", str(tmp_path / "trt"), "--flavour", "tensorrt_plan"]) == 3
    )  # a model problem
    assert "tensorrt_plan needs an engine file" in capsys.readouterr().err
    engine = tmp_path / "gesture.engine"
    engine.write_bytes(b"engine bytes")
    assert (
        train_cli(
            ["triton-repo", "--out", str(tmp_path / "trt"), "--flavour", "tensorrt_plan", "--classifier", str(engine)]
        )
        == 0
    )
    plan = (tmp_path / "trt" / "gesture_classifier" / "config.pbtxt").read_text()
    assert 'platform: "tensorrt_plan"' in plan and "kind: KIND_GPU" in plan
    assert (tmp_path / "trt" / "gesture_classifier" / "1" / "model.plan").read_bytes() == b"engine bytes"


def test_jetson_bundle_with_engines_for_ros2_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:

    det, cls = tmp_path / "hand_detector_int8.engine", tmp_path / "gesture_classifier_fp16.engine"
    det.write_bytes(b"det")
    cls.write_bytes(b"cls")
    out = tmp_path / "bundle"
    assert train_cli(["deploy", "--out", str(out), "--detector", str(det), "--classifier", str(cls),
                      "--image-topic", "/front_camera/image_raw", "--set", "detector.coverage_threshold=0.5", "roi.ratio=1.8"]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert res["detector"]["backend"] == "tensorrt" and res["input"]["detector"] == [3, 288, 512]
    params = yaml.safe_load((out / "gesture_ros.yaml").read_text())["/**"]["ros__parameters"]
    assert params["detector"]["backend"] == "tensorrt" and params["classifier"]["backend"] == "tensorrt"
    assert params["detector"]["coverage_threshold"] == 0.5 and params["roi"]["ratio"] == 1.8
    assert (
        params["image_topic"] == "/front_camera/image_raw"
        and params["models_file"] == "${GESTURE_ROS_GRAPH_DIR}/models.yaml"
    )
    described = yaml.safe_load((out / "models.yaml").read_text())
    assert described["detector"]["file"] == "${GESTURE_ROS_GRAPH_DIR}/models/hand_detector_int8.engine"
    assert described["classifier"]["input"]["shape"] == [3, 160, 160]  # copied from config/models.yaml, not retyped
    assert (out / "models" / "hand_detector_int8.engine").read_bytes() == b"det"
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch / launch_ros are not installed (../shared/third_party/ros2 absent at set-up)")
    from test_config import evaluate_launch

    monkeypatch.delenv("GESTURE_ROS_GRAPH_DIR", raising=False)
    ld = runpy.run_path(str(out / "gesture_jetson.launch.py"))["generate_launch_description"]()
    got = evaluate_launch(ld, {})
    assert got["declared"]["params_file"] == "${GESTURE_ROS_GRAPH_DIR}/gesture_ros.yaml"
    assert got["declared"]["camera"] == "false"
    # loading the bundle's graph left this process's environment alone (it set the variable before,
    # issue 22); the launch description hands the bundle's folder to its nodes instead
    assert "GESTURE_ROS_GRAPH_DIR" not in os.environ
    assert got["env"]["GESTURE_ROS_GRAPH_DIR"] == str(out.resolve())
    assert [e for _, e in got["nodes"]] == ["hand_detector_node", "roi_node", "gesture_classifier_node", "overlay_node"]
    # ros2 launch of a moved bundle, for real: tests/test_ros2_tools.py


def test_bundle_refuses_a_model_that_does_not_match_models_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the classifier (160x160 input) given as the detector: a model problem, exit code 3
    assert (
        train_cli(
            ["deploy", "--out", str(tmp_path / "b"), "--detector", str(ROOT / "models" / "gesture_classifier.onnx")]
        )
        == 3
    )
    err = capsys.readouterr().err
    assert "does not match config/models.yaml" in err and "288, 512" in err and err.count("\n") == 1
    assert train_cli(["deploy", "--out", str(tmp_path / "c"), "--set", "roi.ratio=-1"]) == 2  # a bad parameter
    assert "roi.ratio must be >= 0.1" in capsys.readouterr().err


@pytest.mark.slow
def test_bundle_runs_with_the_package_bringup(tmp_path: Path, synthetic) -> None:
    """The bundle, moved to another folder, runs here with `gesture-ros up` (ONNX models)."""
    out = tmp_path / "made"
    assert train_cli(["deploy", "--out", str(out), "--detector", str(synthetic["detector"]), "--classifier", str(synthetic["classifier"]),
                      "--graph", "fused", "--camera-source", str(ROOT / "samples" / "hands_demo.mp4"), "--set", "camera.rate=10.0"]) == 0  # fmt: skip
    moved = tmp_path / "robot" / "bundle"
    moved.parent.mkdir()
    out.rename(moved)
    cmd = [sys.executable, "-m", "gesture_ros.cli", "up", str(moved / "graph.yaml"), "echo:=true"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    text = r.stdout + r.stderr
    assert r.returncode == 0, text
    printed = [ln for ln in r.stdout.splitlines() if ln.startswith("[") and " camera] " in ln]
    assert len(printed) >= 50, text  # 56 frames in the sample video
    assert "Traceback" not in text


def test_bundle_classifying_through_a_triton_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bundle"
    repo = tmp_path / "repo"
    assert train_cli(["triton-repo", "--out", str(repo)]) == 0
    assert (
        train_cli(["deploy", "--out", str(out), "--triton-url", "gpu-server.local:8001", "--triton-repo", str(repo)])
        == 0
    )
    res = json.loads(capsys.readouterr().out.split("\n}\n", 1)[1])
    assert res["classifier"]["backend"] == "triton" and res["classifier"]["triton_url"] == "gpu-server.local:8001"
    params = yaml.safe_load((out / "gesture_ros.yaml").read_text())["/**"]["ros__parameters"]
    assert params["classifier"]["backend"] == "triton" and params["triton"]["url"] == "gpu-server.local:8001"
    assert params["detector"]["backend"] == "onnxruntime"
    assert (out / "model_repo" / "gesture_classifier" / "config.pbtxt").is_file()  # the server's half of the bundle
    assert not (out / "models" / "gesture_classifier.onnx").exists()

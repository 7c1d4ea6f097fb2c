"""The real ROS 2 tools a user types (issue 24, part 1): the README's "On a robot" block as written
(colcon build, ``source install/setup.bash``, ``ros2 launch``), ``ros2 run``, ``ros2 topic echo``,
``ros2 param set/get`` and the deploy bundle's launch file, each in its own process over DDS.

The tools are the upstream sources in ``../shared/third_party/ros2`` (launch 3.7.1, launch_ros
0.28.0, ros2cli 0.36.1), installed into the venv by ``scripts/setup_ros_tools.sh``; without that
folder these tests are skipped with that reason. Nothing here is a FAKE.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros_harness import ROOT
from test_readme import README, shell_lines

from gesture_ros.core.model_spec import ModelsConfig

VENV = ROOT / ".venv"
SAMPLE = ROOT / "samples" / "hands_demo.mp4"
GESTURES = "gesture_ros_msgs/msg/GestureArray"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (VENV / "bin" / "ros2").exists(),
        reason="the ROS 2 command-line tools are not installed: ../shared/third_party/ros2 was absent "
        "when scripts/setup_ros_tools.sh ran",
    ),
]


def robot_block(section: str = "## On a robot") -> list[str]:
    """The robot lines of the README section whose heading starts with ``section``."""
    text = README.read_text()
    start = text.index(f"\n{section}")
    end = text.find("\n## ", start + 1)
    return [x.text for x in shell_lines(text[start : end if end > 0 else None]) if x.robot]


class Workspace:
    """A colcon workspace made by the README's robot block, and the environment its
    ``source install/setup.bash`` gives (the venv's PyPI ROS wheels are the underlay here)."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path, self.env = path, env
        self.procs: list[subprocess.Popen[str]] = []

    def run(self, command: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One command line as a user types it, in a shell with the workspace sourced."""
        r = subprocess.run(["bash", "-c", command], cwd=ROOT, env=self.env, capture_output=True, text=True,
                           timeout=timeout)  # fmt: skip
        if check:
            assert r.returncode == 0, f"{command}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
        return r

    def start(self, command: str, log: Path) -> subprocess.Popen[str]:
        """A long-running command (``ros2 launch``, ``ros2 run``) in its own process group."""
        p = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=ROOT, env=self.env, text=True,
                             stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.procs.append(p)
        return p

    def stop(self, p: subprocess.Popen[str], timeout: float = 20) -> int:
        """Ctrl-C, as a user stops ``ros2 launch``; the exit code (killed if it hangs)."""
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        return p.returncode

    def nodes(self, expected: set[str], timeout: float = 30) -> set[str]:
        """``ros2 node list`` until ``expected`` is among them (discovery takes seconds)."""
        deadline = time.monotonic() + timeout
        while True:
            found = set(self.run("ros2 node list").stdout.split())
            if expected <= found or time.monotonic() > deadline:
                return found
            time.sleep(1.0)

    def echo_once(self, topic: str, msg_type: str, timeout: float = 90) -> str:
        """``ros2 topic echo --once``: the first message on ``topic`` from another process."""
        r = self.run(f"ros2 topic echo --once {topic} {msg_type}", timeout=timeout, check=False)
        assert r.returncode == 0, f"no message on {topic}: {r.stdout[-1500:]}{r.stderr[-1500:]}"
        return r.stdout


def _sourced(command: str, base: dict[str, str]) -> dict[str, str]:
    r = subprocess.run(["bash", "-c", f"{command} && env -0"], env=base, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{command}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return dict(kv.split("=", 1) for kv in r.stdout.split("\0") if "=" in kv)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The robot block up to ``source install/setup.bash``, as written, with two substitutions:
    ``~/ws`` is a temporary folder and ``git clone <this repo>`` links this checkout (so the tree
    under test is the one built); colcon gets the venv's CMake arguments, which a ROS install does
    not need (scripts/colcon_check.sh)."""
    path = tmp_path_factory.mktemp("ws")
    venv = str(VENV)
    base = {**os.environ, "AMENT_PREFIX_PATH": venv, "CMAKE_PREFIX_PATH": venv, "PATH": f"{venv}/bin:{os.environ['PATH']}",
            "LD_LIBRARY_PATH": f"{venv}/lib:{os.environ.get('LD_LIBRARY_PATH', '')}"}  # fmt: skip
    cmake_args = (
        f" --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE={venv}/bin/python -DPython3_FIND_VIRTUALENV=ONLY"
        f" -DCMAKE_PROJECT_INCLUDE={ROOT}/cmake/venv_include_fix.cmake"
    )
    setup: list[str] = []
    for line in robot_block():
        if line.startswith("ros2 "):
            break
        line = line.replace("~/ws", str(path)).replace("git clone <this repo> gesture_ros", f"ln -s {ROOT} gesture_ros")
        if line.startswith("cd ") and "/src" in line:
            line = f"mkdir -p {path}/src && {line}"
        if " colcon build " in f" {line} ":
            line += cmake_args + " > colcon.log 2>&1 || { tail -30 colcon.log; false; }"
        setup.append(line)
    assert setup[-1] == "source install/setup.bash", setup
    env = _sourced(" && ".join(setup).replace("source install", "set +u && source install"), base)
    # the underlay after the workspace, as a ROS install's setup.bash chains them
    env["AMENT_PREFIX_PATH"] = f"{env['AMENT_PREFIX_PATH']}:{venv}"
    env["PYTHONUNBUFFERED"] = "1"
    w = Workspace(path, env)
    yield w
    for p in w.procs:
        w.stop(p)
    subprocess.run(["ros2", "daemon", "stop"], env=env, capture_output=True, timeout=30)


def _wait_for(pattern: str, log: Path, p: subprocess.Popen[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if re.search(pattern, text):
            return text
        if p.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"{pattern!r} not in the output (exit {p.poll()}):\n{log.read_text()[-3000:]}")


def _launch_lines() -> list[str]:
    return [x for x in robot_block() if x.startswith("ros2 launch")]


def test_the_workspace_is_what_a_user_gets(ws: Workspace) -> None:
    """After the block's ``source install/setup.bash``: ``ros2 pkg`` finds the package, its
    executables and its launch files in the workspace's install/ (not in the venv)."""
    prefix = ws.run("ros2 pkg prefix gesture_ros").stdout.strip()
    assert Path(prefix) == ws.path / "install" / "gesture_ros"
    exes = ws.run("ros2 pkg executables gesture_ros").stdout
    for exe in ("camera_node", "hand_detector_node", "roi_node", "gesture_classifier_node", "gesture_pipeline_node"):
        assert f"gesture_ros {exe}" in exes, exes
    assert (Path(prefix) / "share" / "gesture_ros" / "launch" / "gesture_fused.launch.py").is_file()


@pytest.mark.parametrize("launch_file", ["gesture_fused.launch.py", "gesture_pipeline.launch.py"])
def test_ros2_launch_on_the_sample_video_publishes_gestures(
    ws: Workspace, tmp_path: Path, launch_file: str, models: ModelsConfig
) -> None:
    """``ros2 launch gesture_ros <file> camera_source:=<video>``; ``ros2 topic echo --once
    /gestures`` in another process receives a gesture carrying the camera's header."""
    p = ws.start(f"ros2 launch gesture_ros {launch_file} camera_source:={SAMPLE} camera_rate:=10.0 camera_loop:=true",
                 tmp_path / "launch.log")  # fmt: skip
    out = ws.echo_once("/gestures", GESTURES)
    assert "frame_id: camera" in out, out
    labels = re.findall(r"label: (\w+)", out)
    assert set(labels) <= {*models.classifier.labels, *models.detector.labels}, out
    assert set(labels) & set(models.classifier.labels), out
    topics = ws.run("ros2 topic list").stdout.split()
    assert {"/gestures", "/gestures/events", "/diagnostics"} <= set(topics), topics
    assert ws.stop(p) in (0, -signal.SIGINT, 130), (tmp_path / "launch.log").read_text()[-2000:]
    log = (tmp_path / "launch.log").read_text()
    assert "process started" in log and "Traceback" not in log, log[-3000:]


def test_the_readme_robot_launch_lines_as_written(ws: Workspace, tmp_path: Path) -> None:
    """Both ``ros2 launch`` lines of the robot block, word for word.

    1. The fused graph without its camera, on ``/camera/color/image_raw``: a camera driver started
       with ``ros2 run gesture_ros camera_node`` publishes there (as a robot's driver would), and
       ``ros2 topic echo --once /gestures`` gets gestures stamped with the driver's frame.
       ``ros2 param set`` then refuses a bad value with its reason and applies a good one.
    2. The separate-node graph with ``backend:=tensorrt``: TensorRT cannot exist here, so each
       inference node must say so in one line and keep running (a robot without the engine
       built yet sees why, not a traceback)."""
    first, second = _launch_lines()
    assert "camera:=false" in first and "image_topic:=/camera/color/image_raw" in first, first
    launch = ws.start(first, tmp_path / "fused.log")
    driver = ws.start(
        f"ros2 run gesture_ros camera_node --ros-args -r __node:=robot_camera -p image_topic:=/camera/color/image_raw "
        f"-p camera.source:={SAMPLE} -p camera.loop:=true -p camera.rate:=10.0 -p camera.frame_id:=robot_cam",
        tmp_path / "driver.log",
    )
    out = ws.echo_once("/gestures", GESTURES)
    assert "frame_id: robot_cam" in out, out
    nodes = ws.nodes({"/gesture_pipeline", "/robot_camera"})
    assert {"/gesture_pipeline", "/robot_camera"} <= nodes and "/camera" not in nodes, nodes  # camera:=false
    assert "active [3]" in ws.run("ros2 lifecycle get /gesture_pipeline").stdout  # autostart (the default)

    # ros2 param: the node's own validation answers through the real parameter services
    for command, why in (
        ("roi.ratio -1.0", "out of range Min: 0.1"),  # the descriptor's range, enforced by rclpy
        ("detector.clustering kmeans", "detector.clustering must be one of deepstream_dbscan"),  # the node's check
        ("detector.backend tensorrt", "read-only"),
    ):
        r = ws.run(f"ros2 param set /gesture_pipeline {command}")
        assert re.search(f"Setting parameter failed: .*{re.escape(why)}", r.stdout + r.stderr), (command, r)
    good = ws.run("ros2 param set /gesture_pipeline roi.ratio 1.8")
    assert "Set parameter successful" in good.stdout, good.stdout
    assert "Double value is: 1.8" in ws.run("ros2 param get /gesture_pipeline roi.ratio").stdout
    assert "String value is: openvino" in ws.run("ros2 param get /gesture_pipeline detector.backend").stdout
    described = ws.run("ros2 param describe /gesture_pipeline roi.ratio").stdout
    assert "Min value: 0.1" in described, described
    enable_motion = robot_block("## Motion gestures")[0]  # the README's line, as written
    assert "Set parameter successful" in ws.run(enable_motion).stdout
    assert "Boolean value is: True" in ws.run("ros2 param get /gesture_pipeline motion.enabled").stdout
    # gestures keep coming after the change
    assert "frame_id: robot_cam" in ws.echo_once("/gestures", GESTURES)
    for p in (driver, launch):
        ws.stop(p)

    assert "backend:=tensorrt" in second, second
    log = tmp_path / "tensorrt.log"
    trt = ws.start(second, log)
    _wait_for(r"(?s)(?=.*\[hand_detector\]: ModelError: backend 'tensorrt' needs the TensorRT)"
                     r"(?=.*\[gesture_classifier\]: ModelError: backend 'tensorrt' needs the TensorRT)", log, trt)  # fmt: skip
    time.sleep(2.0)
    assert trt.poll() is None, "the graph stopped: " + log.read_text()[-2000:]
    nodes = ws.nodes({"/hand_detector", "/gesture_classifier", "/roi"})
    assert {"/hand_detector", "/gesture_classifier", "/roi"} <= nodes, nodes
    ws.stop(trt)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert text.count("needs the TensorRT Python package") == 2, text[-3000:]


def test_the_deploy_bundle_launches_with_ros2_launch(ws: Workspace, tmp_path: Path) -> None:
    """``gesture-train deploy`` with the shipped ONNX models, moved to another folder, then
    ``ros2 launch <bundle>/gesture_jetson.launch.py`` by path: its nodes find the bundle's own
    parameter and model files, and gestures arrive."""
    made = tmp_path / "made"
    ws.run(f"{VENV}/bin/gesture-train deploy --out {made} --image-topic /front/image_raw", timeout=120)
    bundle = tmp_path / "elsewhere" / "bundle"
    bundle.parent.mkdir()
    made.rename(bundle)
    log = tmp_path / "bundle.log"
    p = ws.start(f"ros2 launch {bundle}/gesture_jetson.launch.py camera:=true camera_source:={SAMPLE} "
                 "camera_loop:=true camera_rate:=10.0", log)  # fmt: skip
    out = ws.echo_once("/gestures", GESTURES)
    assert "frame_id: camera" in out, out
    ws.stop(p)
    text = log.read_text()
    assert str(bundle / "models") in text and str(made) not in text, text[-3000:]


def _silent(ws: Workspace, seconds: float = 4.0) -> bool:
    """Nothing on /gestures for ``seconds`` (``ros2 topic echo --timeout``)."""
    r = ws.run(f"ros2 topic echo --once --timeout {seconds} /gestures {GESTURES}", timeout=seconds + 60, check=False)
    return "header:" not in r.stdout


def _transition(ws: Workspace, node: str, transition: str) -> str:
    r = ws.run(f"ros2 lifecycle set {node} {transition}", check=False)
    return (r.stdout + r.stderr).strip()


def test_managed_nodes_through_ros2_lifecycle(ws: Workspace, tmp_path: Path) -> None:
    """``autostart:=false``: the fused node waits unconfigured until ``ros2 lifecycle`` drives it;
    configure loads the models, activate starts gestures, deactivate pauses them, cleanup frees
    the models and a second configure/activate brings them back. A model that cannot load fails
    configure with the reason, and the node stays up and unconfigured (retryable)."""
    p = ws.start(f"ros2 launch gesture_ros gesture_fused.launch.py camera_source:={SAMPLE} camera_loop:=true "
                 "camera_rate:=10.0 autostart:=false", tmp_path / "launch.log")  # fmt: skip
    node = "/gesture_pipeline"
    assert node in ws.nodes({node})
    assert node in ws.run("ros2 lifecycle nodes").stdout
    assert "unconfigured [1]" in ws.run(f"ros2 lifecycle get {node}").stdout
    assert _silent(ws), "an unconfigured node published"
    assert _transition(ws, node, "configure") == "Transitioning successful"
    assert "inactive [2]" in ws.run(f"ros2 lifecycle get {node}").stdout
    assert _silent(ws), "an inactive node published"
    assert _transition(ws, node, "activate") == "Transitioning successful"
    assert "frame_id: camera" in ws.echo_once("/gestures", GESTURES)
    assert _transition(ws, node, "deactivate") == "Transitioning successful"
    time.sleep(1.0)  # results already on the wire
    assert _silent(ws), "a deactivated node published"
    assert _transition(ws, node, "cleanup") == "Transitioning successful"
    assert "unconfigured [1]" in ws.run(f"ros2 lifecycle get {node}").stdout
    for t in ("configure", "activate"):
        assert _transition(ws, node, t) == "Transitioning successful"
    assert "frame_id: camera" in ws.echo_once("/gestures", GESTURES)
    ws.stop(p)
    log = (tmp_path / "launch.log").read_text()
    assert log.count("hand detector: openvino") == 2, log[-3000:]  # loaded at each configure, not at start

    # a model that cannot load: configure fails, says why once, the node stays up
    log_path = tmp_path / "missing.log"
    missing = tmp_path / "no_such.onnx"
    det = ws.start(f"ros2 run gesture_ros hand_detector_node --ros-args -p autostart:=false -p detector.model:={missing}",
                   log_path)  # fmt: skip
    assert "/hand_detector" in ws.nodes({"/hand_detector"})
    assert "Transitioning failed" in _transition(ws, "/hand_detector", "configure")
    assert "unconfigured [1]" in ws.run("ros2 lifecycle get /hand_detector").stdout
    assert det.poll() is None
    ws.stop(det)
    text = log_path.read_text()
    assert text.count(f"ONNX model not found: {missing}") == 1 and "Traceback" not in text, text[-2000:]


def test_the_readme_lifecycle_lines_as_written(ws: Workspace, tmp_path: Path) -> None:
    """The README's lifecycle example, word for word (no camera needed): the separate-node graph
    with ``autostart:=false``; the detector brought to active by hand, the classifier left
    unconfigured."""
    launch, bring_up, get = robot_block("## Nodes and topics")
    p = ws.start(launch, tmp_path / "launch.log")
    assert "/hand_detector" in ws.nodes({"/hand_detector", "/gesture_classifier"})
    assert ws.run(bring_up).stdout.count("Transitioning successful") == 2
    assert "active [3]" in ws.run("ros2 lifecycle get /hand_detector").stdout
    assert "unconfigured [1]" in ws.run(get).stdout
    ws.stop(p)

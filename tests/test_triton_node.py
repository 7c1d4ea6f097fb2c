"""The fused node classifying through a real tritonserver. The node starts before its server
(detections flow, gestures unavailable); the server comes up -> the same gestures as in-process
ONNX Runtime; server killed mid-stream -> detections keep flowing, gestures unavailable,
diagnostics ERROR; server restarted -> gestures resume without restarting the node."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from gesture_ros_msgs.msg import DetectionArray, GestureArray
from ros_harness import ROOT, WARMUP_NS, Harness, encode
from sensor_msgs.msg import Image

from gesture_ros.core.model_spec import load_models
from gesture_ros.factory import parameter_values, pipeline
from gesture_ros.training.cli import main as train_cli
from gesture_ros.triton_server import free_port, start

pytestmark = pytest.mark.slow
VENV = ROOT / ".venv-triton"


def test_kill_and_restart_the_server_mid_stream(tmp_path: Path, shared_data: Path) -> None:
    if not (VENV / "bin" / "python").is_file():
        pytest.fail("no .venv-triton: run `bash scripts/setup_triton.sh` (make test does)")
    repo = tmp_path / "repo"
    assert train_cli(["triton-repo", "--out", str(repo)]) == 0
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    frame = cv2.resize(
        cv2.imread(str(sorted((shared_data / "gestures" / "stop").glob("subhih__*.jpg"))[0])), (640, 480)
    )
    # what the in-process pipeline (ONNX Runtime) says for this frame
    local = pipeline(parameter_values(), load_models(ROOT / "config" / "models.yaml")).process(frame, "bgr")
    want = [h.gesture.label for h in local.hands if h.gesture is not None]
    assert want, "the default detector finds the hand in this frame"

    log = tmp_path / "node.log"
    cmd = [sys.executable, "-m", "gesture_ros.nodes.gesture_pipeline_node", "--ros-args", "-r", "__node:=tri_pipeline",
           "--params-file", str(ROOT / "config" / "gesture_ros.yaml"), "-p", "image_topic:=/tri/image",
           "-p", "detections_topic:=/tri/detections", "-p", "gestures_topic:=/tri/gestures", "-p", "events_topic:=/tri/events",
           "-p", "overlay.publish:=false", "-p", "classifier.backend:=triton", "-p", f"triton.url:=127.0.0.1:{ports['grpc_port']}",
           "-p", "triton.timeout:=0.5", "-p", "triton.reconnect_max:=1.0", "-p", "diagnostics_period:=0.3"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    h = Harness("tri_harness")
    pub = h.publisher(Image, "/tri/image")
    gestures = h.subscribe(GestureArray, "/tri/gestures")
    dets = h.subscribe(DetectionArray, "/tri/detections")
    diags = h.subscribe(DiagnosticArray, "/diagnostics")
    k = [0]

    def send(_: int = 0) -> None:
        k[0] += 1
        pub.publish(encode(frame, "bgr8", WARMUP_NS + k[0]))

    def stream(seconds: float, until=None) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            send()
            if h.spin_until(lambda: bool(until and until()), 0.15):
                return True
        return False

    server = None
    try:
        # no server yet: the node is up, publishes the hands, gestures unavailable, ERROR on diagnostics
        h.handshake(send, gestures, timeout=60)
        assert stream(5, lambda: len(gestures) >= 3), log.read_text()
        assert all(len(m.gestures) == len(want) and not any(x.available for x in m.gestures) for m in gestures)
        assert h.spin_until(
            lambda: any(s.name.endswith("tri_pipeline") and s.level == bytes([2]) for d in diags for s in d.status), 5
        )

        server = start(repo, VENV, **ports)
        n_g = len(gestures)
        assert stream(30, lambda: any(x.available for m in gestures[n_g:] for x in m.gestures)), log.read_text()
        assert stream(10, lambda: len(gestures) >= n_g + 3)
        g = gestures[-1]
        assert [x.label for x in g.gestures if x.available] == want  # same answer as in-process ORT
        assert g.header.frame_id == "test_cam"

        server.stop()  # killed mid-stream
        n_det, n_g = len(dets), len(gestures)
        diags.clear()  # the ERROR looked for below is this outage's, not the first one's
        assert stream(
            15, lambda: any(not x.available for m in gestures[n_g:] for x in m.gestures) and len(dets) > n_det + 5
        )
        assert proc.poll() is None
        down = [m for m in gestures[n_g:] if m.gestures and not any(x.available for x in m.gestures)]
        assert down and all(len(m.gestures) == len(want) for m in down)  # the hands are still there
        assert h.spin_until(
            lambda: any(s.name.endswith("tri_pipeline") and s.level == bytes([2]) for d in diags for s in d.status), 5
        )
        st = [s for d in diags for s in d.status if s.name.endswith("tri_pipeline")][-1]
        assert "classifier backend down" in st.message

        server = start(repo, VENV, **ports)  # back on the same address
        n_g = len(gestures)
        diags.clear()
        assert stream(30, lambda: any(x.available for m in gestures[n_g:] for x in m.gestures)), log.read_text()
        assert [x.label for x in gestures[-1].gestures if x.available] == want
        assert proc.poll() is None
        text = log.read_text()
        assert text.count("reconnected") >= 2 and "Traceback" not in text
        assert h.spin_until(
            lambda: any(s.name.endswith("tri_pipeline") and s.level == bytes([0]) for d in diags for s in d.status), 5
        )
    finally:
        if server is not None:
            server.stop()
        proc.terminate()
        proc.wait(timeout=15)
        h.close()

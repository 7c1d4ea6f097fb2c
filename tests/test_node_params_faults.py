"""Parameters (start-up and runtime) and a missing model, on real node processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from gesture_ros_msgs.msg import Box, Detection, DetectionArray
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_harness import ROOT, WARMUP_NS, Harness, encode, header
from sensor_msgs.msg import Image

from gesture_ros.settings import PARAMS

pytestmark = pytest.mark.dds


def _node(module: str, name: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", f"gesture_ros.nodes.{module}", "--ros-args", "-r", f"__node:={name}",
           "--params-file", str(ROOT / "config" / "gesture_ros.yaml"), *args]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _double(name: str, v: float) -> Parameter:
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=v))


def test_roi_node_parameters_at_startup_and_runtime(tmp_path: Path) -> None:
    log = tmp_path / "roi.log"
    proc = _node(
        "roi_node", "roi_params",
        ["-p", "roi.ratio:=99.0", "-p", "roi.margin_px:=3", "-p", "roi.min_size:=0.0",
         "-p", "detections_topic:=/pt/in", "-p", "rois_topic:=/pt/out"],
        log,
    )  # fmt: skip
    h = Harness()
    try:
        client = h.node.create_client(SetParameters, "/roi_params/set_parameters")
        expected = "roi.ratio must be <= 10.0, got 99.0; using the default 1.6"
        assert h.spin_until(lambda: client.service_is_ready() and expected in log.read_text(), 30), log.read_text()

        def call(*params: Parameter) -> list:
            fut = client.call_async(SetParameters.Request(parameters=list(params)))
            assert h.spin_until(fut.done, 10)
            return fut.result().results

        bad = call(_double("roi.ratio", -1.0))
        assert not bad[0].successful and "roi.ratio" in bad[0].reason
        wrong_type = call(
            Parameter(name="roi.square", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="yes"))
        )
        assert not wrong_type[0].successful
        read_only = call(
            Parameter(name="rois_topic", value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="/x"))
        )
        assert not read_only[0].successful
        assert call(_double("roi.ratio", 2.0))[0].successful

        pub = h.publisher(DetectionArray, "/pt/in")
        out = h.subscribe(DetectionArray, "/pt/out")
        assert h.spin_until(lambda: pub.get_subscription_count() >= 1 and h.matched("/pt/out"), 30)

        def msg(k: int) -> DetectionArray:
            m = DetectionArray(header=header(WARMUP_NS + k, "cam"), image_width=640, image_height=480)
            m.detections = [
                Detection(
                    header=m.header,
                    label="hand",
                    score=0.9,
                    box=Box(x_min=100.0, y_min=100.0, x_max=140.0, y_max=120.0),
                )
            ]
            return m

        h.handshake(lambda k: pub.publish(msg(k)), out)
        pub.publish(msg(1000))
        assert h.spin_until(lambda: len(out) >= 1, 10)
        roi = out[-1].detections[0].roi
        # longer side 40 x ratio 2.0 (runtime value) + 2 x margin 3 (the int given for a float) = 86
        np.testing.assert_allclose([roi.x_min, roi.y_min, roi.x_max, roi.y_max], [77, 67, 163, 153])
        assert out[-1].header == msg(1000).header
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


def test_missing_model_is_one_error_and_the_node_stays_up(tmp_path: Path) -> None:
    log = tmp_path / "det.log"
    missing = tmp_path / "no_such_model.onnx"
    proc = _node(
        "hand_detector_node", "det_missing", ["-p", f"detector.model:={missing}", "-p", "diagnostics_period:=0.2"], log
    )
    h = Harness()
    diags = h.subscribe(DiagnosticArray, "/diagnostics")
    try:
        assert h.spin_until(lambda: any(s.name.endswith("det_missing") for d in diags for s in d.status), 30), (
            log.read_text()
        )
        st = next(s for d in diags for s in d.status if s.name.endswith("det_missing"))
        assert st.level == bytes([2]) and "not found" in st.message
        time.sleep(0.5)
        assert proc.poll() is None
        text = log.read_text()
        assert text.count(f"ONNX model not found: {missing}") == 1 and "Traceback" not in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


def test_unknown_backend_in_params_is_rejected_with_the_choices(tmp_path: Path) -> None:
    log = tmp_path / "det.log"
    proc = _node("hand_detector_node", "det_backend", ["-p", "detector.backend:=tflite"], log)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "detector.backend must be" not in log.read_text():
            time.sleep(0.1)
        text = log.read_text()
        assert (
            "detector.backend must be one of onnxruntime, openvino, tensorrt, triton, got 'tflite'; "
            "using the default 'openvino'" in text
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_nan_model_outputs_make_no_detections_are_counted_and_reported_once(tmp_path: Path, models) -> None:
    """A real ONNX model whose box outputs are all NaN: the detector node publishes empty
    DetectionArrays (nothing made from NaN), counts the frames on /diagnostics, says so once."""
    from synthetic_models import detector_model

    model = detector_model(models.detector, tmp_path / "nan_detector.onnx", nan_boxes=True)
    log = tmp_path / "det.log"
    proc = _node("hand_detector_node", "det_nan", ["-p", f"detector.model:={model}", "-p", "image_topic:=/nan_test/image",
                                                   "-p", "detections_topic:=/nan_test/detections", "-p", "diagnostics_period:=0.3"], log)  # fmt: skip
    h = Harness()
    dets = h.subscribe(DetectionArray, "/nan_test/detections")
    diags = h.subscribe(DiagnosticArray, "/diagnostics")
    pub = h.node.create_publisher(Image, "/nan_test/image", 10)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[100:300, 200:400] = 255  # a bright square: the synthetic detector's coverage is high there
    try:
        h.handshake(lambda k: pub.publish(encode(frame, "bgr8", WARMUP_NS + k)), dets)
        for i in range(5):  # one at a time: the image queue keeps only the newest frame
            pub.publish(encode(frame, "bgr8", 2 * WARMUP_NS + i))
            assert h.spin_until(lambda i=i: len(dets) >= i + 1, 20), log.read_text()
        assert all(len(d.detections) == 0 for d in dets)

        def counted(key: str) -> int:
            values = (kv for d in diags for s in d.status if s.name.endswith("det_nan") for kv in s.values)
            return max((int(kv.value) for kv in values if kv.key == key), default=0)

        # every frame the model ran on is counted (with detector.interval it runs on every (interval+1)-th)
        runs = -(-5 // (int(PARAMS["detector.interval"].default) + 1))
        assert h.spin_until(lambda: counted("nonfinite_detector_outputs") == counted("detector_runs") >= runs, 10), (
            list(diags)[-1:]
        )
        assert proc.poll() is None
        assert log.read_text().count("the detector model produced NaN/inf outputs") == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


def test_malformed_params_yaml_is_one_clear_error_for_a_node_and_for_the_bringup(tmp_path: Path) -> None:
    bad = tmp_path / "bad_params.yaml"
    bad.write_text("/**:\n  ros__parameters:\n    roi: {ratio: [1.6\n")
    node = subprocess.run(
        [sys.executable, "-m", "gesture_ros.nodes.roi_node", "--ros-args", "--params-file", str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert node.returncode == 2 and "Traceback" not in node.stderr
    assert "cannot start: failed to initialize rcl: Couldn't parse params file" in node.stderr
    up = subprocess.run(
        [sys.executable, "-m", "gesture_ros.cli", "up", "config/graph_fused.yaml", f"params_file:={bad}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert up.returncode == 2 and "Traceback" not in up.stderr + up.stdout
    assert f"params file {bad} is not valid YAML" in up.stderr and "starting" not in up.stdout  # no node was started


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_nodes_stop_cleanly_on_sigint_and_sigterm(tmp_path: Path, sig: str) -> None:
    """Every node stops within a few seconds with exit code 0 and no traceback (workers joined,
    backends closed, the ROS context shut down in order)."""
    import signal

    procs = {
        name: _node(module, f"{name}_{sig.lower()}", ["-p", "image_topic:=/sig_test/image", "-p", "diagnostics_period:=0.2"], tmp_path / f"{name}.log")
        for name, module in (("pipeline", "gesture_pipeline_node"), ("detector", "hand_detector_node"), ("classifier", "gesture_classifier_node"), ("roi", "roi_node"))
    }  # fmt: skip
    h = Harness()
    diags = h.subscribe(DiagnosticArray, "/diagnostics")
    try:
        up = lambda: {n for d in diags for s in d.status for n in procs if s.name.endswith(f"{n}_{sig.lower()}")}  # noqa: E731
        assert h.spin_until(lambda: up() == set(procs), 40), {n: (tmp_path / f"{n}.log").read_text() for n in procs}
        for p in procs.values():
            p.send_signal(getattr(signal, sig))
        for name, p in procs.items():
            assert p.wait(timeout=15) == 0, (tmp_path / f"{name}.log").read_text()
            assert "Traceback" not in (tmp_path / f"{name}.log").read_text()
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        h.close()


def _dets(stamp: int, roi: list[float], size: tuple[int, int] = (640, 480)) -> DetectionArray:
    d = Detection(label="hand", score=0.9, box=Box(x_min=370.0, y_min=295.0, x_max=446.0, y_max=402.0), roi_valid=True)
    d.header = header(stamp, "test_cam")
    d.roi = Box(x_min=roi[0], y_min=roi[1], x_max=roi[2], y_max=roi[3])
    return DetectionArray(header=header(stamp, "test_cam"), image_width=size[0], image_height=size[1], detections=[d])


def _classifier_harness(name: str, ns: str, log: Path) -> tuple[subprocess.Popen[bytes], Harness, Any, Any, np.ndarray]:
    """The real gesture_classifier_node with its topics under ``/ns``, a harness with publishers
    for its image and ROI inputs, and the first frame of the sample video (640x480)."""
    import cv2

    ok, frame = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4")).read()
    assert ok and frame.shape[:2] == (480, 640)
    topics = [f"{t}:=/{ns}/{t.split('_')[0]}" for t in ("image_topic", "rois_topic", "gestures_topic", "events_topic")]
    proc = _node(
        "gesture_classifier_node", name, [a for t in topics for a in ("-p", t)] + ["-p", "diagnostics_period:=0.3"], log
    )
    h = Harness()
    return (
        proc,
        h,
        h.node.create_publisher(Image, f"/{ns}/image", 10),
        h.publisher(DetectionArray, f"/{ns}/rois"),
        frame,
    )


def test_hostile_detection_arrays_do_not_stop_the_classifier_node(tmp_path: Path) -> None:
    """Any publisher on the ROI topic: ROIs outside the frame, NaN, swapped corners, detections
    for another image size. Each gets one log line and a count on /diagnostics; its hand is
    published unclassified; the node keeps classifying the good messages around them."""
    from gesture_ros_msgs.msg import GestureArray

    log = tmp_path / "cls.log"
    proc, h, images, rois, frame = _classifier_harness("cls_hostile", "hostile", log)
    out = h.subscribe(GestureArray, "/hostile/gestures")
    diags = h.subscribe(DiagnosticArray, "/diagnostics")
    good = [340.0, 280.0, 480.0, 420.0]
    hostile = [([700.0, 500.0, 800.0, 600.0], (640, 480)), ([100.0, float("nan"), 200.0, 200.0], (640, 480)),
               ([-50.0, -50.0, -10.0, -10.0], (640, 480)), ([300.0, 300.0, 200.0, 200.0], (640, 480)), (good, (1280, 720))]  # fmt: skip

    def send(stamp: int, roi: list[float], size: tuple[int, int] = (640, 480)) -> None:
        rois.publish(_dets(stamp, roi, size))
        images.publish(encode(frame, "bgr8", stamp))

    try:
        h.handshake(lambda k: send(WARMUP_NS + k, good), out)
        for i, (roi, size) in enumerate([*hostile, (good, (640, 480))]):
            send(2 * WARMUP_NS + i, roi, size)
            assert h.spin_until(lambda i=i: len(out) >= i + 1, 20), log.read_text()[-3000:]
        assert [len(g.gestures) for g in out] == [1] * 6  # every hand published
        assert [g.gestures[0].available for g in out] == [False] * 5 + [True], log.read_text()[-3000:]
        assert all(g.header.stamp == g.gestures[0].hand.header.stamp for g in out)  # the input's header

        def counted() -> int:
            values = (kv for d in diags for s in d.status if s.name.endswith("cls_hostile") for kv in s.values)
            return max((int(kv.value) for kv in values if kv.key == "bad_detections"), default=0)

        assert h.spin_until(lambda: counted() >= 5, 10)
        assert proc.poll() is None
        text = log.read_text()
        for why in (
            "outside the 640x480 frame",
            "is not finite",
            "corners are swapped",
            "detections for a 1280x720 image",
        ):
            assert why in text, text[-3000:]
        assert "Traceback" not in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()


def _bool(name: str, v: bool) -> Parameter:
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=v))


def _int(name: str, v: int) -> Parameter:
    return Parameter(name=name, value=ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=v))


def test_tracking_and_event_parameters_apply_at_runtime(tmp_path: Path) -> None:
    """`ros2 param set` of tracking.* and events.* on the running classifier node changes what
    it publishes (issue 22, defect 2: they were accepted and ignored): tracking off gives
    track id -1; back on with events.debounce_frames 1, a new track's first frame is an event."""
    from gesture_ros_msgs.msg import GestureArray, GestureEvent

    log = tmp_path / "cls.log"
    proc, h, images, rois, frame = _classifier_harness("cls_params", "rt", log)
    out = h.subscribe(GestureArray, "/rt/gestures")
    events = h.subscribe(GestureEvent, "/rt/events")
    client = h.node.create_client(SetParameters, "/cls_params/set_parameters")

    def send(stamp: int) -> None:
        rois.publish(_dets(stamp, [340.0, 280.0, 480.0, 420.0]))
        images.publish(encode(frame, "bgr8", stamp))

    def call(*params: Parameter) -> None:
        fut = client.call_async(SetParameters.Request(parameters=list(params)))
        assert h.spin_until(fut.done, 10) and all(r.successful for r in fut.result().results), fut.result()

    def one(stamp: int) -> GestureArray:
        send(stamp)
        assert h.spin_until(lambda: any(g.header.stamp == header(stamp, "x").stamp for g in out), 20), log.read_text()[
            -2000:
        ]
        return next(g for g in out if g.header.stamp == header(stamp, "x").stamp)

    try:
        assert h.spin_until(client.service_is_ready, 30)
        h.handshake(lambda k: send(WARMUP_NS + k), out)
        assert one(2 * WARMUP_NS).gestures[0].track_id >= 0
        call(_bool("tracking.enabled", False))
        assert one(2 * WARMUP_NS + 1).gestures[0].track_id == -1
        call(_bool("tracking.enabled", True), _int("events.debounce_frames", 1), _int("tracking.max_missed", 0),
             _double("tracking.iou_threshold", 0.5))  # fmt: skip
        stamp = 2 * WARMUP_NS + 2
        assert one(stamp).gestures[0].track_id >= 0
        assert h.spin_until(lambda: any(e.header.stamp == header(stamp, "x").stamp for e in events), 10), (
            "no event after 1 frame"
        )
        # an ONNX Runtime classifier has no Triton link: its reconnect wait would change nothing, so it is read-only here
        fut = client.call_async(SetParameters.Request(parameters=[_double("triton.reconnect_max", 2.0)]))
        assert h.spin_until(fut.done, 10) and "read-only" in fut.result().results[0].reason
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        h.close()

"""Every writable parameter, changed through the real ``set_parameters`` service (issue 22).

The four nodes that take runtime changes run in this process (so their core objects can be
read back) with the package's parameters file; a second node in its own ROS context calls
their ``/<node>/set_parameters`` services over DDS, exactly as ``ros2 param set`` does. Each
writable parameter of each node gets a new valid value; the test checks that the core object
the node runs with took it (not only that the service said yes), then checks behaviour on a
real frame for each group. Parameters a node does not apply are refused as read-only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np
import pytest
import rclpy
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import MultiThreadedExecutor
from ros_harness import ROOT, Harness

from gesture_ros.settings import CLUSTERING, GROUPS, INTERVAL, PARAMS, RECONNECT, REUSE, ROI, TRACKING, Group, group_of

pytestmark = pytest.mark.dds

# where each node keeps the typed value of each group it applies (the core object it runs with)
APPLIED: dict[str, dict[str, Callable[[Any], Any]]] = {
    "hand_detector": {CLUSTERING.name: lambda n: n.detector.clustering, INTERVAL.name: lambda n: n.skipper.config},
    "roi": {ROI.name: lambda n: n.roi},
    "gesture_classifier": {
        ROI.name: lambda n: n.roi,
        TRACKING.name: lambda n: n.tracking.config,
        REUSE.name: lambda n: n.memory.config,
        RECONNECT.name: lambda n: n.classifier.link,
    },
    "gesture_pipeline": {
        CLUSTERING.name: lambda n: n.pipeline.detector.clustering,
        ROI.name: lambda n: n.pipeline.roi,
        TRACKING.name: lambda n: n.pipeline.tracking.config,
        INTERVAL.name: lambda n: n.pipeline.skipper.config,
        REUSE.name: lambda n: n.pipeline.memory.config,
        RECONNECT.name: lambda n: n.pipeline.classifier.link,
    },
}


def _new_value(name: str, current: Any) -> Any:
    """A valid value other than ``current``, from the table's type, choices and range."""
    p = PARAMS[name]
    if isinstance(p.default, bool):
        return not current
    if p.choices:
        return p.choices[(p.choices.index(current) + 1) % len(p.choices)]
    assert p.min is not None and p.max is not None, name
    if isinstance(p.default, int):
        return current + 1 if current < p.max else current - 1
    return (current + p.max) / 2 if current < p.max else (current + p.min) / 2


def _msg(name: str, value: Any) -> Parameter:
    if isinstance(value, bool):
        v = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    elif isinstance(value, int):
        v = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    elif isinstance(value, float):
        v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        v = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return Parameter(name=name, value=v)


@pytest.fixture(scope="module")
def nodes() -> Iterator[dict[str, Any]]:
    from gesture_ros.nodes.gesture_classifier_node import GestureClassifierNode
    from gesture_ros.nodes.gesture_pipeline_node import GesturePipelineNode
    from gesture_ros.nodes.hand_detector_node import HandDetectorNode
    from gesture_ros.nodes.roi_node import RoiNode

    # the classifiers run on a Triton server that is not there: their links exist (down), so the
    # reconnect wait has something to apply to; the detector runs on ONNX Runtime
    args = ["--ros-args", "--params-file", str(ROOT / "config" / "gesture_ros.yaml"), "-p", "overlay.publish:=false",
            "-p", "classifier.backend:=triton", "-p", "detector.backend:=onnxruntime", "-p", "detector.providers:=cuda,cpu", "-p", "triton.url:=127.0.0.1:1", "-p", "triton.timeout:=0.2",
            "-p", "image_topic:=/rtp/image", "-p", "detections_topic:=/rtp/dets", "-p", "rois_topic:=/rtp/rois",
            "-p", "gestures_topic:=/rtp/gestures", "-p", "events_topic:=/rtp/events"]  # fmt: skip
    context = rclpy.get_default_context()  # the nodes are made in it (their constructors take none)
    rclpy.init(args=args, context=context)
    made: dict[str, Any] = {}
    for cls in (HandDetectorNode, RoiNode, GestureClassifierNode, GesturePipelineNode):
        n = cls()
        made[n.get_name()] = n
    executor = MultiThreadedExecutor(context=context)
    for n in made.values():
        executor.add_node(n)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield made
    finally:
        executor.shutdown()
        for n in made.values():
            n.stop_workers()
            for b in n.owned_backends:
                b.close()
            n.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(timeout=5)


@pytest.fixture(scope="module")
def client() -> Iterator[Harness]:
    h = Harness("rtp_client")
    yield h
    h.close()


def _set(h: Harness, node: str, name: str, value: Any) -> Any:
    cli = h.node.create_client(SetParameters, f"/{node}/set_parameters")
    assert cli.wait_for_service(timeout_sec=20), node
    fut = cli.call_async(SetParameters.Request(parameters=[_msg(name, value)]))
    assert h.spin_until(fut.done, 20), (node, name)
    h.node.destroy_client(cli)
    return fut.result().results[0]


def _field(applied: Any, group: Group[Any], name: str) -> Any:
    if group is RECONNECT:  # the link itself: its wait
        return applied.max_wait
    return getattr(applied, group.fields[name])


def test_every_writable_parameter_reaches_the_core(nodes: dict[str, Any], client: Harness) -> None:
    checked = 0
    for node_name, node in nodes.items():
        assert node.params.missing_appliers() == []
        for name in node.values:
            group = group_of(name)
            if group is None or group.name not in APPLIED[node_name]:
                continue
            new = _new_value(name, node.values[name])
            result = _set(client, node_name, name, new)
            assert result.successful, (node_name, name, result.reason)
            applied = APPLIED[node_name][group.name](node)
            got = _field(applied, group, name)
            assert got == pytest.approx(new) if isinstance(new, float) else got == new, (node_name, name, got, new)
            checked += 1
    # every writable parameter of the table was changed in at least one node
    assert checked == sum(len([p for p in g.params if g.name in APPLIED[n]]) for n in nodes for g in GROUPS.values())
    assert {p for n in nodes for p in nodes[n].values if nodes[n].params.writable(p)} == {
        p for g in GROUPS.values() for p in g.params
    }


def test_what_a_node_does_not_apply_is_read_only(nodes: dict[str, Any], client: Harness) -> None:
    # the detector has no Triton link: its reconnect wait would change nothing, so it is refused
    refused = _set(client, "hand_detector", "triton.reconnect_max", 2.0)
    assert not refused.successful and "read-only" in refused.reason
    for node_name, name in (("roi", "detections_topic"), ("gesture_pipeline", "detector.backend")):
        assert not _set(client, node_name, name, "x").successful
    bad = _set(client, "gesture_pipeline", "tracking.max_missed", -3)
    assert not bad.successful and "tracking.max_missed out of range" in bad.reason


def test_each_group_changes_what_the_pipeline_does(nodes: dict[str, Any], client: Harness) -> None:
    """Behaviour on a real frame with two hands, through the node's own pipeline."""
    ok, frame = cv2.VideoCapture(str(ROOT / "samples" / "hands_demo.mp4")).read()
    assert ok
    node = nodes["gesture_pipeline"]

    def run() -> Any:
        return node.pipeline.process(frame, "bgr")

    defaults = {n: PARAMS[n].default for n in node.values if node.params.writable(n)}
    for name, value in defaults.items():  # the first test left every one changed
        assert _set(client, "gesture_pipeline", name, value).successful
    before = run()
    assert len(before.hands) >= 1
    assert _set(client, "gesture_pipeline", "detector.coverage_threshold", 1.0).successful  # clustering
    assert run().hands == []
    assert _set(
        client, "gesture_pipeline", "detector.coverage_threshold", defaults["detector.coverage_threshold"]
    ).successful
    ratio = float(defaults["roi.ratio"])
    assert _set(client, "gesture_pipeline", "roi.ratio", ratio * 0.5).successful  # ROI
    small = run().hands
    assert len(small) == len(before.hands) and all(a.roi_valid for a in small)
    assert all(a.roi[2] - a.roi[0] < b.roi[2] - b.roi[0] for a, b in zip(small, before.hands, strict=True))
    assert _set(client, "gesture_pipeline", "roi.ratio", ratio).successful
    assert _set(client, "gesture_pipeline", "tracking.enabled", False).successful  # tracking
    assert all(h.track_id == -1 for h in run().hands)
    assert _set(client, "gesture_pipeline", "tracking.enabled", True).successful
    assert all(h.track_id >= 0 for h in run().hands)
    assert _set(client, "gesture_pipeline", "triton.reconnect_max", 0.3).successful  # reconnect
    link = node.pipeline.classifier.link
    assert link.max_wait == pytest.approx(0.3)
    assert np.isfinite(before.hands[0].box).all()


def test_diagnostics_say_which_provider_runs_each_model(nodes: dict[str, Any]) -> None:
    """Issue 24: ``detector.providers: cuda,cpu`` on a machine without CUDA runs on the CPU and
    says so; a Triton stage shows its backend."""
    import onnxruntime as ort

    det = nodes["hand_detector"].diag.stats.snapshot()
    want = (
        "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() else "CPUExecutionProvider"
    )
    assert det["detector_provider"] == want
    pipe = nodes["gesture_pipeline"].diag.stats.snapshot()
    assert pipe["detector_provider"] == want and pipe["classifier_provider"] == "triton"

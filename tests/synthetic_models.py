"""Small real ONNX models with the DetectNet_v2 and GestureNet tensor names and shapes.

They are not fakes: ONNX Runtime runs them like any model. Their weights are chosen by hand so
that tests can predict the output from the image:

* detector: coverage of a grid cell = sigmoid(gain x (mean brightness of its 16x16 patch - 0.5)),
  every cell predicts a ``box_px`` square around its centre. A bright square on black becomes
  one cluster covering the square.
* classifier: class scores = softmax(W @ mean RGB of the crop): a red crop is class 0, green
  class 1, blue class 2 (after GestureNet's (x-128)/256 normalisation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from gesture_ros.core.model_spec import ClassifierSpec, DetectorSpec


def detector_model(
    spec: DetectorSpec,
    path: Path,
    *,
    gain: float = 20.0,
    box_px: float = 48.0,
    batch: str | int = "N",
    nan_boxes: bool = False,
) -> Path:
    """``nan_boxes``: every bbox output is NaN (a broken engine or an fp16 overflow)."""
    c, h, w = 3, spec.input.height, spec.input.width
    n_cls = len(spec.labels)
    s = spec.stride
    half = box_px / 2.0 / spec.bbox_scale
    # the DetectNet_v2 input is x/255 in 0..1; mean over channels -> 16x16 average pool
    inits = [
        numpy_helper.from_array(np.full((n_cls, 3, 1, 1), 1.0 / 3.0, np.float32), "chan_mean_w"),
        numpy_helper.from_array(np.array([gain], np.float32), "gain"),
        numpy_helper.from_array(np.array([0.5], np.float32), "half"),
        numpy_helper.from_array(np.zeros((4 * n_cls, 3, 1, 1), np.float32), "bbox_w"),
        numpy_helper.from_array(np.full((4 * n_cls,), np.nan if nan_boxes else half, np.float32), "bbox_b"),
    ]
    nodes = [
        helper.make_node("AveragePool", ["input_1"], ["pooled"], kernel_shape=[s, s], strides=[s, s]),
        helper.make_node("Conv", ["pooled", "chan_mean_w"], ["bright"]),
        helper.make_node("Sub", ["bright", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], [spec.coverage_output]),
        helper.make_node("Conv", ["pooled", "bbox_w", "bbox_b"], [spec.bbox_output]),
    ]
    graph = helper.make_graph(
        nodes,
        "synthetic_detectnet_v2",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [batch, c, h, w])],
        [
            helper.make_tensor_value_info(spec.coverage_output, TensorProto.FLOAT, [batch, n_cls, h // s, w // s]),
            helper.make_tensor_value_info(spec.bbox_output, TensorProto.FLOAT, [batch, 4 * n_cls, h // s, w // s]),
        ],
        inits,
    )
    return _save(graph, path)


def classifier_model(spec: ClassifierSpec, path: Path, *, batch: str | int = "N") -> Path:
    k = len(spec.labels)
    weights = np.zeros((3, k), np.float32)  # (mean R, G, B) -> logits
    for i in range(min(3, k)):
        weights[i, i] = 40.0
        weights[:, i] -= 10.0
        weights[i, i] += 10.0
    if k > 3:
        weights[:, k - 1] = -5.0  # the last class ("random") wins nothing
    inits = [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.zeros(k, np.float32), "b")]
    nodes = [
        helper.make_node("GlobalAveragePool", [spec.input.name], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [spec.output], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "synthetic_gesturenet",
        [
            helper.make_tensor_value_info(
                spec.input.name, TensorProto.FLOAT, [batch, 3, spec.input.height, spec.input.width]
            )
        ],
        [helper.make_tensor_value_info(spec.output, TensorProto.FLOAT, [batch, k])],
        inits,
    )
    return _save(graph, path)


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path

"""ONNX export with the DetectNet_v2 / GestureNet tensor names, checked against torch in ORT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from gesture_ros.core.model_spec import ClassifierSpec, DetectorSpec


def export_detector(model: nn.Module, spec: DetectorSpec, path: Path) -> float:
    """Write the ONNX file; return the largest |ORT - torch| difference on a random batch. With
    ``size_multiple`` the input's height and width are left open too (the fully convolutional
    network runs at any multiple of it: :meth:`~gesture_ros.core.pipeline.HandDetector.input_size`)."""
    dummy = torch.rand(2, 3, spec.input.height, spec.input.width)
    spatial = {2: "H", 3: "W"} if spec.size_multiple else {}
    return export_onnx(model, dummy, path, spec.input.name, [spec.coverage_output, spec.bbox_output], spatial)


def export_classifier(model: nn.Module, spec: ClassifierSpec, path: Path) -> float:
    dummy = torch.rand(3, 3, spec.input.height, spec.input.width) - 0.5
    return export_onnx(model, dummy, path, spec.input.name, [spec.output])


def export_onnx(
    model: nn.Module,
    dummy: torch.Tensor,
    path: Path,
    input_name: str,
    outputs: list[str],
    input_axes: dict[int, str] | None = None,
) -> float:
    """Export with a dynamic batch axis (opset 17), and the ``input_axes`` open too, and compare
    ONNX Runtime with torch."""
    import onnxruntime as ort

    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=[input_name],
        output_names=outputs,
        dynamic_axes={input_name: {0: "N", **(input_axes or {})}, **{name: {0: "N"} for name in outputs}},
        opset_version=17,
        dynamo=False,
    )
    _drop_constant_identities(path)
    with torch.no_grad():
        ref = model(dummy)
    ref_list = [t.numpy() for t in (ref if isinstance(ref, tuple) else (ref,))]
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(outputs, {input_name: dummy.numpy()})
    return float(max(np.abs(g - r).max() for g, r in zip(got, ref_list, strict=True)))


def _drop_constant_identities(path: Path) -> None:
    """Point consumers of ``Identity(initializer)`` at the initializer itself.

    The exporter shares equal buffers (two convs reading one tensor have one input scale) through
    Identity nodes; TensorRT wants every Q/DQ scale and zero point to be an initializer.
    """
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    inits = {i.name for i in g.initializer}
    alias = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity" and n.input[0] in inits}
    if not alias:
        return
    outputs = {o.name for o in g.output}
    keep = [n for n in g.node if not (n.op_type == "Identity" and n.output[0] in alias and n.output[0] not in outputs)]
    for n in keep:
        for i, name in enumerate(n.input):
            if name in alias:
                n.input[i] = alias[name]
    del g.node[:]
    g.node.extend(keep)
    onnx.save(model, str(path))

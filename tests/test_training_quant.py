"""QAT (BN folding, fake int8, Q/DQ export that ONNX Runtime and the runtime accept) and the
INT8 calibration cache in TensorRT's text format."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from gesture_ros.core.detectnet import ClusterConfig  # noqa: E402
from gesture_ros.training.calibration import entropy_threshold, read_cache, run_calibration, trt_version_int  # noqa: E402
from gesture_ros.training.models import DetectNetV2  # noqa: E402
from gesture_ros.training.qat import QuantConv2d, fold_batch_norm  # noqa: E402
from gesture_ros.training.train_detector import DetectorTrainConfig, train_detector  # noqa: E402


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Four frames of one EgoHands video for training, three SubhiH frames of one session for validation."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "images").mkdir()
    (root / "labels").mkdir()
    src = shared_data / "hands_detect"
    picks = (
        sorted((src / "images").glob("egohands__CARDS_OFFICE_S_B_*.jpg"))[:4]
        + sorted((src / "images").glob("subhih__25_pic*.jpg"))[:3]
    )
    for img in picks:
        shutil.copyfile(img, root / "images" / img.name)
        shutil.copyfile(src / "labels" / (img.stem + ".txt"), root / "labels" / (img.stem + ".txt"))
    return root


@pytest.fixture(scope="module")
def float_run(tmp_path_factory: pytest.TempPathFactory, tiny_set: Path, models) -> Path:
    out = tmp_path_factory.mktemp("float")
    cfg = DetectorTrainConfig(
        data=str(tiny_set), out=str(out), width=0.125, epochs=2, batch=2, val_scenes=["25"], progress=False
    )
    train_detector(cfg, models.detector, ClusterConfig(), log=lambda _: None)
    return out


def test_folding_batch_norm_keeps_the_outputs() -> None:
    torch.manual_seed(0)
    m = DetectNetV2(1, 18, 0.125)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.3, 3.0)
            mod.weight.data.uniform_(0.5, 1.5)
    m.eval()
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        ref = m(x)
        folded = fold_batch_norm(m)(x)
    assert not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
    for a, b in zip(ref, folded, strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-4)


def test_fake_quant_conv_snaps_inputs_and_weights_to_int8_grids() -> None:
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(0.5)
    q = QuantConv2d(conv)
    q.input_scale = torch.tensor(0.1)
    q.eval()
    q.set_weight_scale()  # per channel: 0.5 / 127
    x = torch.tensor([0.04, 0.06, 0.26, 100.0]).reshape(1, 1, 2, 2)
    y = q(x).flatten()
    # inputs round to multiples of 0.1 and clip at 127 * 0.1; the weight 0.5 is exact
    torch.testing.assert_close(y, torch.tensor([0.0, 0.05, 0.15, 6.35]), atol=1e-6, rtol=0)


def test_qat_step_exports_qdq_onnx_the_runtime_runs(tmp_path: Path, tiny_set: Path, float_run: Path, models) -> None:
    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import HandDetector

    cfg = DetectorTrainConfig(data=str(tiny_set), out=str(tmp_path), width=0.125, epochs=1, batch=2, lr=1e-4, val_scenes=["25"],
                              init_from=str(float_run / "detector.pt"), qat=True, progress=False)  # fmt: skip
    logs: list[str] = []
    metrics = train_detector(cfg, models.detector, ClusterConfig(), log=logs.append)
    assert any("convs quantised" in x for x in logs)
    g = onnx.load(str(tmp_path / "hand_detector.onnx")).graph
    ops = [n.op_type for n in g.node]
    assert ops.count("QuantizeLinear") == ops.count("DequantizeLinear") == 2 * ops.count("Conv") > 0
    assert "BatchNormalization" not in ops
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            assert n.input[1] in inits and np.all(inits[n.input[1]] > 0)  # constant, positive scales
    assert [o.name for o in g.output] == ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    assert "val_float" in metrics and metrics["qat_minus_float_ap50"] == pytest.approx(
        metrics["val"]["ap50"] - metrics["val_float"]["ap50"]
    )
    # the fake-int8 model stays close to the float one it started from
    x = np.random.default_rng(0).random((1, 3, 288, 512), dtype=np.float32)
    import onnxruntime as ort

    f = ort.InferenceSession(str(tmp_path / "float.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input_1": x})
    q = ort.InferenceSession(str(tmp_path / "hand_detector.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input_1": x}
    )
    assert np.abs(f[0] - q[0]).max() < 0.2
    HandDetector(models.detector, create_backend("onnxruntime", tmp_path / "hand_detector.onnx"), ClusterConfig())
    saved = torch.load(tmp_path / "detector.pt", weights_only=True)
    assert saved["qat"] is True and any(k.endswith("input_scale") for k in saved["state_dict"])


def test_trt_version_numbers() -> None:
    assert (
        trt_version_int("10.3.0") == 100300 and trt_version_int("8.6.1") == 8601 and trt_version_int("10.13") == 101300
    )


def test_entropy_threshold_cuts_outliers_and_keeps_a_flat_range() -> None:
    width = 10.0 / 2048
    flat = np.ones(2048)
    assert entropy_threshold(flat, width) > 9.5
    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0, 1, 200_000))
    x[:20] = 10.0  # a few outliers at the top
    hist = np.histogram(x, bins=2048, range=(0, 10.0))[0].astype(float)
    t = entropy_threshold(hist, width)
    assert 2.5 < t < 8.0


def test_calibration_cache_in_tensorrt_text_format(tmp_path: Path, tiny_set: Path, float_run: Path, models) -> None:
    from gesture_ros.training.cli import main as train_cli

    onnx_path = float_run / "hand_detector.onnx"
    # the same images as the entropy run below (which excludes scene 25), so the ranges compare
    res = run_calibration(
        onnx_path, models.detector, tiny_set, tmp_path / "max.cache", images=4, method="max", exclude_scenes=("25",)
    )
    header, scales = read_cache(tmp_path / "max.cache")
    assert header == "TRT-100300-MinMaxCalibration" and res["images"] == 4
    assert (tmp_path / "max.cache").read_text().splitlines()[1] == "input_1: " + struct.pack(">f", 1 / 127).hex()
    node_outputs = {o for n in onnx.load(str(onnx_path)).graph.node for o in n.output}
    assert set(scales) - {"input_1"} <= node_outputs and {"output_cov/Sigmoid", "output_bbox/BiasAdd"} <= set(scales)
    assert all(v > 0 for v in scales.values())
    assert train_cli(["calibrate", "--model", str(onnx_path), "--data", str(tiny_set), "--out", str(tmp_path / "e.cache"),
                      "--images", "4", "--trt-version", "10.3.0", "--exclude-scenes", "25"]) == 0  # fmt: skip
    header_e, scales_e = read_cache(tmp_path / "e.cache")
    assert header_e == "TRT-100300-EntropyCalibration2" and set(scales_e) == set(scales)
    assert all(scales_e[k] <= scales[k] * (1 + 1e-6) for k in scales)  # entropy never widens the max range
    assert any(scales_e[k] < 0.9 * scales[k] for k in scales)

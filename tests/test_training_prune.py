"""Structured pruning: exact on removable channels, union across residual adds, granularity,
and the pruned model retrains and exports for the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from shared_scenes import EGO

torch = pytest.importorskip("torch")

from gesture_ros.training.models import DetectNetV2, build_model  # noqa: E402
from gesture_ros.training.prune import choose_channels, model_layers, prune_model, prune_state  # noqa: E402


def _model() -> DetectNetV2:
    torch.manual_seed(0)
    m = DetectNetV2(1, 18, 0.25)
    for mod in m.modules():  # trained-looking batch-norm statistics
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.bias.data.uniform_(-0.1, 0.1)
    return m.eval()


def _silence(m: DetectNetV2, layer_bn: str, channels: list[int]) -> None:
    bn = m.get_submodule(layer_bn)
    bn.weight.data[channels] = 0.0
    bn.bias.data[channels] = 0.0


def test_pruning_channels_that_carry_nothing_keeps_outputs_exact() -> None:
    m = _model()
    members = [la for la in model_layers(m) if la.out_group == "stage3"]
    assert [la.name for la in members] == [
        "backbone.layers.2.down.0",
        "backbone.layers.2.conv2",
        "backbone.layers.3.conv2",
    ]
    for la in members:  # channels 3 and 7 of the stage-3 residual stream: zero in every member
        _silence(m, la.bn, [3, 7])
    _silence(m, "backbone.layers.4.bn1", [0, 1, 2])  # an inner channel group
    keep = choose_channels(m, threshold=0.01, granularity=1, min_channels=1)
    assert 3 not in keep["stage3"] and 7 not in keep["stage3"] and len(keep["stage3"]) == 30
    assert len(keep["backbone.layers.4.mid"]) == 61 and len(keep["stage0"]) == 16
    ckpt = {"state_dict": m.state_dict(), "config": m.config}
    pruned, report = prune_model("detector", ckpt, 0.01, (3, 64, 96), granularity=1)
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        (c0, b0), (c1, b1) = m(x), pruned.eval()(x)
    torch.testing.assert_close(c1, c0, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b1, b0, atol=1e-5, rtol=1e-4)
    assert report["params_after"] < report["params_before"] and report["gflops_after"] < report["gflops_before"]
    assert report["channels"]["stage3"] == {"kept": 30, "of": 32}


def test_union_keeps_a_channel_any_residual_member_needs_and_rounds_to_granularity() -> None:
    m = _model()
    _silence(m, "backbone.layers.2.bn2", [5])  # only one member of the stage-3 group: kept (union)
    keep = choose_channels(m, threshold=0.01, granularity=1, min_channels=1)
    assert 5 in keep["stage3"] and len(keep["stage3"]) == 32
    keep8 = choose_channels(m, threshold=0.6, granularity=8, min_channels=8)
    assert all(len(k) % 8 == 0 and len(k) >= 8 for k in keep8.values())
    # the state slices consistently: a model built from it loads it and runs
    state = prune_state(m, keep8)
    small = build_model("detector", m.config, state)
    cov, bbox = small.eval()(torch.rand(1, 3, 64, 96))
    assert cov.shape == (1, 1, 4, 6) and bbox.shape == (1, 4, 4, 6)


def test_prune_step_then_retrain_the_pruned_graph(tmp_path: Path, models, shared_data: Path) -> None:
    """`gesture-train prune` on a trained checkpoint, then `detector --init-from` the pruned file."""
    from gesture_ros.backends import create_backend
    from gesture_ros.core.detectnet import ClusterConfig
    from gesture_ros.core.pipeline import HandDetector
    from gesture_ros.training.cli import main as train_cli
    from gesture_ros.training.train_detector import DetectorTrainConfig, train_detector

    m = _model()
    torch.save({"state_dict": m.state_dict(), "config": m.config}, tmp_path / "detector.pt")
    out = tmp_path / "pruned"
    assert train_cli(["prune", "--model", str(tmp_path / "detector.pt"), "--out", str(out), "--threshold", "0.7"]) == 0
    report = json.loads((out / "prune_report.json").read_text())
    assert report["params_after"] < report["params_before"] and report["onnx_vs_torch_max_abs_diff"] < 1e-4
    saved = torch.load(out / "detector.pt", weights_only=True)
    assert saved["pruned"] is True
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(tmp_path / "retrain"), init_from=str(out / "detector.pt"),
                              epochs=1, batch=4, scenes=[EGO], limit=8, val_scenes=[], progress=False)  # fmt: skip
    logs: list[str] = []
    metrics = train_detector(cfg, models.detector, ClusterConfig(), log=logs.append)
    assert any("retraining the pruned model" in x for x in logs)
    assert metrics["parameters"] == report["params_after"]
    retrained = torch.load(tmp_path / "retrain" / "detector.pt", weights_only=True)
    assert retrained["pruned"] is True
    assert {k: v.shape for k, v in retrained["state_dict"].items()} == {
        k: v.shape for k, v in saved["state_dict"].items()
    }
    onnx_path = tmp_path / "retrain" / "hand_detector.onnx"
    det = HandDetector(models.detector, create_backend("onnxruntime", onnx_path), ClusterConfig())
    assert det.detect(np.zeros((120, 160, 3), np.uint8), "bgr").boxes.shape[1] == 4

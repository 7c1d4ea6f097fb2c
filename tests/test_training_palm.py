"""The palm-detector trunk (training/palm_trunk.py): MediaPipe's own .tflite, read into torch,
held to LiteRT's output on a real image (tests/data/palm_reference.npz), then trained, saved,
rebuilt and exported like the ResNet detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.models import DetectNetV2, build_model  # noqa: E402
from training.palm_trunk import (  # noqa: E402
    PalmTrunk,
    freeze_palm_stages,
    palm_trunk_from_tflite,
    read_palm_graph,
    resolve_palm_tflite,
)

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests/data/palm_reference.npz"


@pytest.fixture(scope="module")
def palm_tflite() -> Path:
    try:
        return resolve_palm_tflite("full", ROOT / ".venv-mediapipe")
    except FileNotFoundError as e:
        pytest.fail(f"{e} (make test does)")


def test_trunk_matches_litert_on_a_real_image(palm_tflite: Path) -> None:
    ref = np.load(REFERENCE)
    trunk = palm_trunk_from_tflite(palm_tflite).eval()
    x = torch.from_numpy(ref["rgb"].astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        got = trunk(x)[0].permute(1, 2, 0).numpy()
    want = ref["feature"].astype(np.float32)
    assert got.shape == want.shape == (12, 12, 256)
    # float16 storage of the reference: ~1e-2 at |18|; a wrong padding or weight layout is off by units
    assert np.abs(got - want).max() < 0.05, np.abs(got - want).max()
    assert trunk.out_channels == 256 and trunk.stride == 16


def test_trunk_runs_at_the_detector_input_and_freezes_the_early_stages(palm_tflite: Path) -> None:
    graph, state = read_palm_graph(palm_tflite)
    model = DetectNetV2(1, palm_graph=graph)
    model.backbone.load_state_dict(state)
    cov, bbox = model(torch.rand(2, 3, 96, 160))
    assert cov.shape == (2, 1, 6, 10) and bbox.shape == (2, 4, 6, 10)  # stride 16
    assert isinstance(model.backbone, PalmTrunk)
    frozen = freeze_palm_stages(model.backbone, 2)
    trainable = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert 0 < frozen < sum(p.numel() for p in model.backbone.parameters()) and trainable
    (model(torch.rand(1, 3, 96, 160))[0].sum()).backward()
    assert model.backbone.layers[0].conv.weight.grad is None  # the stride-2 stem stays as pretrained
    assert model.backbone.layers[-1].weight.grad is not None


def test_checkpoint_config_rebuilds_the_palm_model_without_the_tflite(palm_tflite: Path) -> None:
    graph, state = read_palm_graph(palm_tflite)
    model = DetectNetV2(1, palm_graph=graph).eval()
    model.backbone.load_state_dict(state)
    rebuilt = build_model("detector", model.config, model.state_dict()).eval()
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model(x), rebuilt(x), strict=True))


def test_same_padding_is_tensorflows() -> None:
    from training.palm_trunk import tf_same_pad

    assert tf_same_pad(192, 5, 2) == (1, 2)  # stride 2 on an even side: the extra pixel after
    assert tf_same_pad(191, 5, 2) == (2, 2)
    assert tf_same_pad(96, 5, 1) == (2, 2)
    assert tf_same_pad(96, 2, 2) == (0, 0)


def test_palm_tflite_names_resolve_or_say_what_to_run(palm_tflite: Path, tmp_path: Path) -> None:
    assert resolve_palm_tflite("full", ROOT / ".venv-mediapipe") == palm_tflite
    with pytest.raises(FileNotFoundError, match="make setup-mediapipe"):
        resolve_palm_tflite("lite", tmp_path)
    with pytest.raises(FileNotFoundError, match="not found"):
        resolve_palm_tflite(str(tmp_path / "missing.tflite"))


def test_input_sides_off_the_grid_are_one_clear_error(palm_tflite: Path) -> None:
    trunk = palm_trunk_from_tflite(palm_tflite)
    with pytest.raises(ValueError, match="multiples of 32"):
        trunk(torch.rand(1, 3, 100, 160))


def test_palm_detector_trains_exports_and_restarts(palm_tflite: Path, models, shared_data: Path, tmp_path: Path) -> None:
    """One tiny real run: the early stages stay as pretrained, the trunk learns at the scaled
    rate, the ONNX matches torch and the runtime takes it, and the .pt restarts a run."""
    from gesture_ros.backends import create_backend
    from gesture_ros.core.detectnet import ClusterConfig
    from gesture_ros.core.pipeline import HandDetector
    from training.train_detector import DetectorTrainConfig, train_detector

    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(tmp_path / "palm"), palm_tflite=str(palm_tflite),
                              trunk_lr_scale=0.1, epochs=1, batch=4, limit=8, val_scenes=[], checkpoint_every=1,
                              progress=False)  # fmt: skip
    metrics = train_detector(cfg, models.detector, ClusterConfig(), log=lambda _: None)
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    HandDetector(models.detector, create_backend("onnxruntime", tmp_path / "palm/hand_detector.onnx"), ClusterConfig())
    ckpt = torch.load(tmp_path / "palm/checkpoints/last.pt", weights_only=True)
    trunk_group, head_group = ckpt["optimizer"]["param_groups"]
    assert trunk_group["max_lr"] == pytest.approx(0.1 * head_group["max_lr"])
    _, pretrained = read_palm_graph(palm_tflite)
    saved = torch.load(tmp_path / "palm/detector.pt", weights_only=True)
    state = saved["state_dict"]
    assert torch.equal(state["backbone.layers.0.conv.weight"], pretrained["layers.0.conv.weight"])  # frozen stem
    last_conv = max((k for k in pretrained if k.endswith("conv.weight")), key=lambda k: int(k.split(".")[1]))
    assert not torch.equal(state[f"backbone.{last_conv}"], pretrained[last_conv])  # trained
    logs: list[str] = []
    again = DetectorTrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "again"), "init_from": str(tmp_path / "palm/detector.pt"),
                                   "palm_tflite": ""})  # fmt: skip
    train_detector(again, models.detector, ClusterConfig(), log=logs.append)
    assert any("retraining the model from" in m for m in logs) and any("frozen" in m for m in logs)
    qat = DetectorTrainConfig(**{**again.__dict__, "out": str(tmp_path / "qat"), "qat": True})
    with pytest.raises(ValueError, match="qat does not handle the palm trunk"):
        train_detector(qat, models.detector, ClusterConfig(), log=lambda _: None)


def test_pruning_dead_channels_changes_nothing_else(palm_tflite: Path) -> None:
    """Channels that are zero everywhere (their writers zeroed, the heads not reading them) are
    what pruning removes; the pruned graph then computes exactly what the full one did, which
    checks every slice: dense and depthwise convs, PReLU, channel padding, neck and heads."""
    from training.palm_trunk import channel_components
    from training.prune import prune_palm

    graph, state = read_palm_graph(palm_tflite)
    model = DetectNetV2(1, palm_graph=graph).eval()
    model.backbone.load_state_dict(state)
    offset, comp = channel_components(graph)
    dead = set(np.random.default_rng(0).choice(np.unique(comp[offset[1] :]), 40, replace=False).tolist())
    with torch.no_grad():
        for layer, n in zip(model.backbone.layers, graph["nodes"], strict=True):
            if n["op"] == "conv":
                rows = [c for c in range(n["cout"]) if comp[offset[n["output"]] + c] in dead]
                layer.conv.weight[rows] = 0
                layer.conv.bias[rows] = 0
        cols = [c for c in range(256) if comp[offset[graph["output"]] + c] in dead]
        model.cov.weight[:, cols] = 0
        model.bbox.weight[:, cols] = 0
    pruned, counts = prune_palm(model, threshold=1e-9)
    assert counts["components"] == {"kept": 256 - len(dead) if len(dead) < 256 else 0, "of": 256}
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    x = torch.rand(1, 3, 96, 160)
    with torch.no_grad():
        for a, b in zip(model(x), pruned.eval()(x), strict=True):
            assert torch.allclose(a, b, atol=1e-5), (a - b).abs().max()
    rebuilt = build_model("detector", pruned.config, pruned.state_dict())  # the saved config describes the smaller graph
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in pruned.parameters())

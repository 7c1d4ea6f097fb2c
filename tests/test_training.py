"""Each training step on a tiny real subset of ../shared/data: real files in, real artefacts out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import yaml
from shared_scenes import EGO, EGO_VAL

from gesture_ros.core.detectnet import ClusterConfig
from gesture_ros.core.roi import RoiConfig

torch = pytest.importorskip("torch")

from gesture_ros.datasets import load_gesture_set, split_gestures  # noqa: E402
from gesture_ros.training.loop import load_matching  # noqa: E402
from gesture_ros.training.publish import publish  # noqa: E402
from gesture_ros.training.train_classifier import ClassifierTrainConfig, check_trunk_provenance, train_classifier  # noqa: E402
from gesture_ros.training.train_detector import DetectorTrainConfig, train_detector  # noqa: E402


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory: pytest.TempPathFactory, models, shared_data: Path) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("det_run")
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(out), width=0.125, epochs=2, batch=4, scenes=[EGO], limit=8,
                              val_scenes=[], checkpoint_every=1, progress=False)  # fmt: skip
    return out, train_detector(cfg, models.detector, ClusterConfig(), log=lambda _: None)


def test_detector_step_writes_a_runtime_compatible_onnx(detector_run, models) -> None:
    out, metrics = detector_run
    model = onnx.load(str(out / "hand_detector.onnx"))
    assert [i.name for i in model.graph.input] == ["input_1"]
    assert [o.name for o in model.graph.output] == ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"  # dynamic batch
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["config"]["epochs"] == 2 and len(saved["history"]) == 2 and np.isfinite(saved["history"][0]["loss"])
    assert (out / "config.yaml").is_file() and "detector epoch 2/2" in (out / "train.log").read_text()
    # the runtime accepts it: HandDetector checks names and shapes against config/models.yaml
    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import HandDetector

    HandDetector(models.detector, create_backend("onnxruntime", out / "hand_detector.onnx"), ClusterConfig())


def test_init_from_copies_matching_tensors_only(detector_run) -> None:
    from gesture_ros.training.models import DetectNetV2

    out, _ = detector_run
    same = DetectNetV2(1, 18, 0.125)
    n_tensors = len(same.state_dict())
    assert load_matching(same, out / "detector.pt") == n_tensors
    saved = torch.load(out / "detector.pt", weights_only=True)["state_dict"]
    assert torch.equal(same.state_dict()["cov.weight"], saved["cov.weight"])
    two_classes = DetectNetV2(2, 18, 0.125)  # new head: everything but the head is copied
    assert load_matching(two_classes, out / "detector.pt") == n_tensors - 4


def test_classifier_step_and_publish(tmp_path: Path, models, shared_data: Path, detector_run) -> None:
    cfg = ClassifierTrainConfig(
        data=str(shared_data), out=str(tmp_path / "cls"), width=0.25, epochs=1, batch=8, limit_per_class=4
    )
    metrics = train_classifier(cfg, models.classifier, RoiConfig(), log=lambda _: None)
    model = onnx.load(str(tmp_path / "cls" / "gesture_classifier.onnx"))
    assert [o.name for o in model.graph.output] == ["activation_18"]
    assert metrics["onnx_vs_torch_max_abs_diff"] < 1e-4
    assert metrics["val"]["samples"] > 0 and 0.0 <= metrics["val"]["accuracy"] <= 1.0
    assert len(metrics["val"]["confusion"]) == 6
    published = publish(detector_run[0], tmp_path / "cls", tmp_path / "models")
    assert (tmp_path / "models" / "hand_detector.onnx").read_bytes() == (
        detector_run[0] / "hand_detector.onnx"
    ).read_bytes()
    assert published["classifier"]["file"] == "gesture_classifier.onnx" and len(published["detector"]["sha256"]) == 64
    assert "history" not in published["detector"]
    # the detector's checkpoint ships too (for --init-from), recorded with its hash
    assert (tmp_path / "models" / "hand_detector.pt").read_bytes() == (detector_run[0] / "detector.pt").read_bytes()
    assert published["detector"]["checkpoint"]["file"] == "hand_detector.pt"


def test_classifier_starts_from_a_detector_trunk(tmp_path: Path, models, shared_data: Path, detector_run) -> None:
    """``init_from`` a detector.pt of the same depth and width copies its whole trunk (lr 0 keeps
    the copied convolutions as they are); a trunk of another width is refused."""
    det_pt = detector_run[0] / "detector.pt"
    logs: list[str] = []
    cfg = ClassifierTrainConfig(data=str(shared_data), out=str(tmp_path / "cls"), depth=18, width=0.125, epochs=1, batch=8,
                                limit_per_class=2, lr=0.0, init_from=str(det_pt))  # fmt: skip
    train_classifier(cfg, models.classifier, RoiConfig(), log=logs.append)
    det = torch.load(det_pt, weights_only=True)["state_dict"]
    cls = torch.load(tmp_path / "cls" / "classifier.pt", weights_only=True)["state_dict"]
    trunk = [k for k in cls if k.startswith("backbone.")]
    assert any(f"initialised {len(trunk)} of {len(cls)} tensors" in m for m in logs)
    convs = [k for k in trunk if k.endswith(".weight") and cls[k].ndim == 4]
    assert len(convs) > 15 and all(torch.equal(cls[k], det[k]) for k in convs)
    with pytest.raises(ValueError, match="trunk tensors"):
        train_classifier(ClassifierTrainConfig(**{**cfg.__dict__, "width": 0.25, "out": str(tmp_path / "x")}), models.classifier,
                         RoiConfig(), log=lambda _: None)  # fmt: skip
    # a trunk whose run (its config.yaml says) trained on the full gesture frames, validation sessions included
    leaky = tmp_path / "leaky"
    leaky.mkdir()
    shutil.copyfile(det_pt, leaky / "detector.pt")
    det_cfg = yaml.safe_load((detector_run[0] / "config.yaml").read_text())
    (leaky / "config.yaml").write_text(
        yaml.safe_dump({**det_cfg, "extra_data": [str(shared_data)], "limit": 0, "scenes": []})
    )
    full = {
        **cfg.__dict__,
        "limit_per_class": 0,
        "val_scenes": ["25", "55", "96", "16"],
        "init_from": str(leaky / "detector.pt"),
    }
    with pytest.raises(ValueError, match=r"was trained on \d+ of the classifier's validation images"):
        train_classifier(ClassifierTrainConfig(**full), models.classifier, RoiConfig(), log=lambda _: None)
    with_val = {
        **det_cfg,
        "extra_data": [str(shared_data)],
        "limit": 0,
        "scenes": [],
        "val_scenes": ["session_16", "session_25", "session_55", "session_96"],
    }
    (leaky / "config.yaml").write_text(yaml.safe_dump(with_val))
    _, val, _ = split_gestures(load_gesture_set(shared_data, models.classifier.labels), {"25", "55", "96", "16"})
    check_trunk_provenance(leaky / "detector.pt", val, log=lambda m: pytest.fail(m))  # checked, nothing seen: no error


def test_resume_continues_exactly_from_the_saved_epoch(detector_run, models, shared_data: Path, tmp_path: Path) -> None:
    """Epoch 1's checkpoint + 1 resumed epoch == 2 epochs in one go, bit for bit (model,
    optimizer moments, schedule and both random generators are restored)."""
    import shutil

    out, _ = detector_run
    ckpt = torch.load(out / "checkpoints" / "epoch_001.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and set(ckpt) >= {"optimizer", "scheduler", "numpy_rng", "torch_rng", "history"}
    assert ckpt["optimizer"]["state"], "optimizer moments are saved"
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(out / "checkpoints" / "epoch_001.pt", tmp_path / "resumed" / "checkpoints" / "last.pt")
    logs: list[str] = []
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(tmp_path / "resumed"), width=0.125, epochs=2,
                              batch=4, scenes=[EGO], limit=8, val_scenes=[], checkpoint_every=1, resume="auto", progress=False)  # fmt: skip
    metrics = train_detector(cfg, models.detector, ClusterConfig(), log=logs.append)
    assert any("resumed from" in m and "at epoch 1/2" in m for m in logs)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    a = torch.load(out / "detector.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "resumed" / "detector.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a fresh start with another seed does not give the same weights (the comparison can fail)
    c = DetectorTrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "other"), "resume": "", "seed": 5, "epochs": 2})
    train_detector(c, models.detector, ClusterConfig(), log=lambda _: None)
    other = torch.load(tmp_path / "other" / "detector.pt", weights_only=True)["state_dict"]
    assert not torch.equal(a["cov.weight"], other["cov.weight"])


def test_ema_run_exports_the_average_and_resumes_exactly(models, shared_data: Path, tmp_path: Path) -> None:
    """With ``ema`` the exported weights are the average (the last step's are evaluated beside
    them), and the average is part of the checkpoint: 1 + 1 resumed epochs == 2 epochs."""
    import shutil

    # 24 frames of one video to train on, 24 of the next as validation
    kw = dict(data=str(shared_data / "hands_detect"), width=0.125, epochs=2, batch=4, scenes=[EGO, EGO_VAL], limit=24, val_scenes=[EGO_VAL],
              checkpoint_every=1, ema=0.9, progress=False)  # fmt: skip
    metrics = train_detector(
        DetectorTrainConfig(out=str(tmp_path / "a"), **kw), models.detector, ClusterConfig(), log=lambda _: None
    )
    assert "val_last_step" in metrics and 0.0 <= metrics["val_last_step"]["ap50"] <= 1.0
    ckpt = torch.load(tmp_path / "a" / "checkpoints" / "epoch_002.pt", weights_only=True)
    exported = torch.load(tmp_path / "a" / "detector.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(exported[k], ckpt["ema"]["shadow"][k]) for k in exported)
    assert not torch.equal(exported["cov.weight"], ckpt["state_dict"]["cov.weight"])
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copyfile(tmp_path / "a" / "checkpoints" / "epoch_001.pt", tmp_path / "b" / "checkpoints" / "last.pt")
    train_detector(
        DetectorTrainConfig(out=str(tmp_path / "b"), resume="auto", **kw),
        models.detector,
        ClusterConfig(),
        log=lambda _: None,
    )
    resumed = torch.load(tmp_path / "b" / "detector.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(exported[k], resumed[k]) for k in exported)


def test_autocast_path_trains_in_bf16_on_cpu(tmp_path: Path, models, shared_data: Path) -> None:
    """The mixed-precision code path (fp16 + scaler on CUDA) runs here as bf16 autocast."""
    cfg = DetectorTrainConfig(data=str(shared_data / "hands_detect"), out=str(tmp_path), width=0.125, epochs=1, batch=4,
                              scenes=[EGO], limit=8, val_scenes=[], amp="bf16", progress=False)  # fmt: skip
    logs: list[str] = []
    metrics = train_detector(cfg, models.detector, ClusterConfig(), log=logs.append)
    assert "amp torch.bfloat16" in logs[0] and np.isfinite(metrics["history"][0]["loss"])
    with pytest.raises(ValueError, match="needs CUDA"):
        from gesture_ros.training.loop import make_runtime

        make_runtime("cpu", "fp16")


@pytest.mark.slow
def test_ddp_with_torchrun_two_cpu_ranks(tmp_path: Path, shared_data: Path) -> None:
    """torchrun starts two gloo ranks; each trains its slice, rank 0 alone writes the experiment."""
    import os
    import subprocess
    import sys
    from socket import socket

    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "--master_addr=127.0.0.1",
           "-m", "gesture_ros.training.cli", "detector", "--data", str(shared_data / "hands_detect"), "--out", str(out), "--width", "0.125",
           "--epochs", "1", "--batch", "2", "--scenes", EGO, "--limit", "8", "--val-scenes", "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    log = (out / "train.log").read_text()
    assert "world size 2" in log and log.count("epoch 1/1") == 1  # rank 1 writes nothing
    ckpt = torch.load(out / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 1 and not any(k.startswith("module.") for k in ckpt["state_dict"])
    # 8 images, 2 ranks x batch 2: 2 steps of the one-cycle schedule per epoch
    assert ckpt["scheduler"]["_step_count"] == 3


def test_evaluate_commands_write_json_and_plots(tmp_path: Path, shared_data: Path, detector_run) -> None:
    """`gesture-train evaluate-*` on the shipped defaults and on a trained file."""
    import shutil

    from gesture_ros.training.cli import main as train_cli

    data = tmp_path / "det"
    (data / "images").mkdir(parents=True)
    (data / "labels").mkdir()
    for img in sorted((shared_data / "hands_detect" / "images").glob("subhih__*.jpg"))[:6]:
        shutil.copyfile(img, data / "images" / img.name)
        shutil.copyfile(
            shared_data / "hands_detect" / "labels" / (img.stem + ".txt"), data / "labels" / (img.stem + ".txt")
        )
    assert train_cli(["evaluate-detector", "--data", str(data), "--json", str(tmp_path / "det.json")]) == 0
    res = json.loads((tmp_path / "det.json").read_text())
    assert (
        0.0 <= res["ap70"] <= res["ap50"] <= 1.0
        and res["images"] == 6
        and res["model"].endswith("models/hand_detector.onnx")
    )
    assert sum(v["images"] for v in res["per_scene"].values()) == 6
    assert res["ap50"] > 0.5  # the shipped detector finds these hands (SubhiH AP50 ~0.8-1.0 per scene)
    assert (tmp_path / "det.png").is_file()
    untrained = detector_run[0] / "hand_detector.onnx"
    assert (
        train_cli(
            ["evaluate-detector", "--model", str(untrained), "--data", str(data), "--json", str(tmp_path / "u.json")]
        )
        == 0
    )
    assert json.loads((tmp_path / "u.json").read_text())["ap50"] < res["ap50"]
    gest = tmp_path / "gest"
    for cls in ("fist", "stop"):
        (gest / "gestures" / cls).mkdir(parents=True)
        (gest / "gestures_labels" / cls).mkdir(parents=True)
        for img in sorted((shared_data / "gestures" / cls).glob("*.jpg"))[:4]:
            shutil.copyfile(img, gest / "gestures" / cls / img.name)
            lbl = shared_data / "gestures_labels" / cls / (img.stem + ".txt")
            if lbl.is_file():
                shutil.copyfile(lbl, gest / "gestures_labels" / cls / lbl.name)
    assert train_cli(["evaluate-classifier", "--data", str(gest), "--json", str(tmp_path / "cls.json")]) == 0
    cres = json.loads((tmp_path / "cls.json").read_text())
    assert cres["samples"] >= 8 and len(cres["confusion"]) == 6 and 0.0 <= cres["macro_f1"] <= 1.0
    assert sum(map(sum, cres["confusion"])) == cres["samples"] and (tmp_path / "cls.png").is_file()


def test_every_rank_takes_the_same_steps() -> None:
    """A partial last batch: all ranks skip it or none does (before, with 13 items, batch 4 and two
    ranks, rank 0 trained on 4 items while rank 1 skipped its 1, and the all-reduce hung)."""
    from gesture_ros.training.loop import rank_slice, step_runs

    order = np.arange(13)
    assert [len(rank_slice(order, 1, 4, r, 2)) for r in (0, 1)] == [4, 1]
    assert not step_runs(13, 1, 4, 2) and step_runs(13, 0, 4, 2)
    for n in range(1, 40):
        for batch in (2, 3, 4, 8):
            for world in (1, 2, 3):
                steps = int(np.ceil(n / (batch * world)))
                for b in range(steps):
                    sizes = [len(rank_slice(np.arange(n), b, batch, r, world)) for r in range(world)]
                    assert step_runs(n, b, batch, world) == (min(sizes) >= 2), (n, batch, world, b, sizes)


@pytest.mark.slow
def test_ddp_classifier_with_a_partial_last_batch(tmp_path: Path, shared_data: Path, models) -> None:
    """torchrun, two gloo ranks, the classifier (drop_last=False) with a batch size chosen so the
    last global batch leaves rank 1 a single crop: both ranks finish instead of hanging."""
    import os
    import subprocess
    import sys
    from socket import socket

    from gesture_ros.training.train_classifier import per_class

    val_scenes = {"25", "55", "96", "16"}
    train, _, _ = split_gestures(load_gesture_set(shared_data, models.classifier.labels), val_scenes)
    n = len(per_class(train, models.classifier.labels, 3))
    batch = next(b for b in range(2, 40) if n % (2 * b) == b + 1)  # rank 0: b items, rank 1: 1
    with socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp_cls"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}", "--master_addr=127.0.0.1",
           "-m", "gesture_ros.training.cli", "classifier", "--data", str(shared_data), "--out", str(out), "--depth", "10", "--width", "0.25",
           "--epochs", "1", "--batch", str(batch), "--limit-per-class", "3", "--val-scenes", *sorted(val_scenes), "--no-progress"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "world size 2" in (out / "train.log").read_text() and (out / "gesture_classifier.onnx").is_file()

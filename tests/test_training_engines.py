"""Engine step: exact trtexec / tao-converter commands where TensorRT is absent (here), and the
TensorRT 10 builder calls against the FAKE tensorrt module (tests/fake_tensorrt.py), whose
"engine" the package's TensorRT backend then loads and runs. No real TensorRT ran here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gesture_ros.training.engines import (
    EngineJob,
    Profile,
    default_profile,
    make_engines,
    parse_profile,
    tao_converter_command,
    trtexec_command,
)


def test_profiles_in_tao_notation() -> None:
    p = parse_profile("input_1,1x3x160x160,1x3x160x160,2x3x160x160")
    assert p == Profile("input_1", (1, 3, 160, 160), (1, 3, 160, 160), (2, 3, 160, 160))
    assert p.tao() == "input_1,1x3x160x160,1x3x160x160,2x3x160x160"
    for bad in ("input_1,1x3x160x160", "input_1,2x3x160x160,1x3x160x160,2x3x160x160", "input_1,ax3,1x3,1x3"):
        with pytest.raises(ValueError, match="profile"):
            parse_profile(bad)


def test_exact_commands(models) -> None:
    prof = default_profile(models.classifier, 8)
    assert prof.tao() == "input_1,1x3x160x160,4x3x160x160,8x3x160x160"
    assert trtexec_command(Path("d.onnx"), Path("d.engine"), "int8", [default_profile(models.detector, 1)], Path("c.cache")) == [
        "trtexec", "--onnx=d.onnx", "--saveEngine=d.engine", "--memPoolSize=workspace:1024M",
        "--minShapes=input_1:1x3x288x512", "--optShapes=input_1:1x3x288x512", "--maxShapes=input_1:1x3x288x512",
        "--fp16", "--int8", "--calib=c.cache",
    ]  # fmt: skip
    # NVIDIA's GestureNet from NGC, as the DeepStream TAO apps build it
    ngc = parse_profile("input_1,1x3x160x160,1x3x160x160,2x3x160x160")
    assert tao_converter_command(Path("gesture.etlt"), Path("gesture.engine"), "fp16", ngc, "nvidia_tlt") == [
        "tao-converter", "-k", "nvidia_tlt", "-t", "fp16", "-p", "input_1,1x3x160x160,1x3x160x160,2x3x160x160",
        "-e", "gesture.engine", "gesture.etlt",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="precision"):
        trtexec_command(Path("d.onnx"), Path("d.engine"), "int4", [prof])


def test_engines_command_without_tensorrt_writes_the_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gesture_ros.training.cli import main as train_cli

    assert "tensorrt" not in sys.modules
    (tmp_path / "gesturenet.etlt").write_bytes(b"encrypted")
    assert train_cli(["engines", "--out", str(tmp_path / "eng"), "--classifier", str(tmp_path / "gesturenet.etlt"),
                      "--classifier-profile", "input_1,1x3x160x160,1x3x160x160,2x3x160x160"]) == 0  # fmt: skip
    out = capsys.readouterr()
    res = json.loads(out.out)
    assert res["tensorrt"] is False and res["built"] == [] and "TensorRT is not installed here" in out.err
    script = (tmp_path / "eng" / "build_engines.sh").read_text().splitlines()
    assert script[3] == "KEY=${KEY:-nvidia_tlt}  # the model's NGC key"
    assert (
        script[4].startswith("trtexec --onnx=") and "models/hand_detector.onnx" in script[4] and "--fp16" in script[4]
    )
    assert script[5].startswith("tao-converter -k $KEY -t fp16 -p input_1,1x3x160x160,1x3x160x160,2x3x160x160 -e ")
    assert not list((tmp_path / "eng").glob("*.engine"))


def test_builder_path_against_fake_tensorrt(tmp_path: Path, synthetic, models, fake_trt) -> None:
    from fake_tensorrt import MAGIC

    from gesture_ros.backends import create_backend
    from gesture_ros.core.pipeline import GestureClassifier

    (tmp_path / "cal.cache").write_text("TRT-100300-EntropyCalibration2\ninput_1: 3c010204\n")
    jobs = [
        EngineJob(
            Path(synthetic["detector"]),
            tmp_path / "det.engine",
            "int8",
            default_profile(models.detector, 1),
            tmp_path / "cal.cache",
        ),
        EngineJob(
            Path(synthetic["classifier"]), tmp_path / "cls.engine", "fp16", default_profile(models.classifier, 4)
        ),
    ]
    res = make_engines(jobs, tmp_path / "build_engines.sh")
    assert res["tensorrt"] is True and res["built"] == [str(tmp_path / "det.engine"), str(tmp_path / "cls.engine")]
    trt = sys.modules["tensorrt"]
    last = trt.Builder.last  # the classifier build
    assert {f.name for f in last["config"].flags} == {"FP16"} and last["cache"] is None
    assert last["config"].profiles[0].shapes == {"input_1": ((1, 3, 160, 160), (2, 3, 160, 160), (4, 3, 160, 160))}
    assert last["config"].pools[trt.MemoryPoolType.WORKSPACE] == 1024 << 20
    assert (tmp_path / "det.engine").read_bytes().startswith(MAGIC)
    # the engine the step wrote loads in the package's TensorRT backend and classifies 4 hands at once
    cls = GestureClassifier(models.classifier, create_backend("tensorrt", tmp_path / "cls.engine"))
    rois = np.array([[0, 0, 50, 50], [50, 0, 100, 50], [0, 50, 50, 100], [50, 50, 100, 100]], np.float32)
    assert all(r is not None for r in cls.classify(np.full((100, 100, 3), 90, np.uint8), "bgr", rois))
    cls.backend.close()


def test_int8_build_hands_the_cache_to_tensorrt(tmp_path: Path, synthetic, models, fake_trt) -> None:
    from gesture_ros.training.engines import build_engine

    cache = tmp_path / "cal.cache"
    cache.write_text("TRT-100300-EntropyCalibration2\ninput_1: 3c010204\n")
    build_engine(
        Path(synthetic["detector"]), tmp_path / "d.engine", "int8", [default_profile(models.detector, 1)], cache
    )
    last = sys.modules["tensorrt"].Builder.last
    assert {f.name for f in last["config"].flags} == {"FP16", "INT8"} and last["cache"] == cache.read_bytes()
    (tmp_path / "broken.onnx").write_bytes(b"not onnx")
    with pytest.raises(RuntimeError, match="could not parse"):
        build_engine(tmp_path / "broken.onnx", tmp_path / "x.engine", "fp16", [default_profile(models.detector, 1)])

"""The ONNX Runtime and OpenVINO backends on real ONNX files, and the start-up checks against the description."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from synthetic_models import classifier_model, detector_model

from gesture_ros.backends import create_backend
from gesture_ros.core.detectnet import ClusterConfig
from gesture_ros.core.errors import ModelError
from gesture_ros.core.pipeline import GestureClassifier, HandDetector


def test_onnxruntime_reports_tensors_and_runs(synthetic: dict[str, Path], models) -> None:
    be = create_backend("onnxruntime", synthetic["detector"])
    assert [t.name for t in be.inputs] == ["input_1"]
    assert {t.name for t in be.outputs} == {"output_cov/Sigmoid", "output_bbox/BiasAdd"}
    h, w = models.detector.input.height, models.detector.input.width
    out = be.infer({"input_1": np.ones((2, 3, h, w), np.float32)})
    s = models.detector.stride
    assert out["output_cov/Sigmoid"].shape == (2, 1, h // s, w // s)
    assert np.allclose(out["output_cov/Sigmoid"], 1 / (1 + np.exp(-10.0)), atol=1e-5)


@pytest.mark.parametrize(
    ("model", "shapes"),
    [
        ("detector", [(1, 3, 288, 512), (1, 3, 288, 384), (2, 3, 224, 288)]),
        ("classifier", [(1, 3, 160, 160), (3, 3, 160, 160)]),
    ],
)
def test_openvino_runs_the_shipped_models_as_onnxruntime_does(models, model: str, shapes) -> None:
    """The same ONNX file in both CPU backends: the same tensors (open dimensions open: the
    detector's height and width, the classifier's batch) and the same outputs at every shape
    the pipeline uses, in fp32 (1e-4: float reassociation between two libraries' kernels)."""
    from gesture_ros import paths

    spec = getattr(models, model)
    ov, ort = (create_backend(b, paths.resolve(spec.file)) for b in ("openvino", "onnxruntime"))
    assert ov.inputs == ort.inputs and ov.outputs == ort.outputs
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = {spec.input.name: rng.random(shape, dtype=np.float32)}
        got, want = ov.infer(x), ort.infer(x)
        assert set(got) == set(want)
        for name in want:
            assert got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], atol=1e-4, err_msg=f"{model} {shape} {name}")
    kept = {k: v.copy() for k, v in got.items()}
    ov.infer({spec.input.name: np.zeros(shape, np.float32)})
    for name, v in got.items():  # a result is the caller's: the next call does not overwrite it
        np.testing.assert_array_equal(v, kept[name])


def test_missing_corrupt_and_unknown(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="ONNX model not found"):
        create_backend("onnxruntime", tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x01garbage" * 10)
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        create_backend("onnxruntime", bad)
    with pytest.raises(ModelError, match=r"cannot load bad\.onnx with OpenVINO"):
        create_backend("openvino", bad)
    with pytest.raises(ModelError, match="ONNX model not found"):
        create_backend("openvino", tmp_path / "nope.onnx")
    with pytest.raises(ModelError, match="unknown backend 'tflite'"):
        create_backend("tflite", bad)


def test_tensorrt_absent_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    with pytest.raises(ModelError, match="TensorRT"):
        create_backend("tensorrt", tmp_path / "x.engine")


def test_description_mismatch_names_both_sides(tmp_path: Path, models) -> None:
    other_size = replace(models.detector, input=replace(models.detector.input, height=160, width=160))
    wrong = detector_model(other_size, tmp_path / "d160.onnx")
    with pytest.raises(ModelError, match=r"input 'input_1' has shape \[3, 160, 160\].*but \[3, 288, 512\]"):
        HandDetector(models.detector, create_backend("onnxruntime", wrong), ClusterConfig())
    renamed = replace(models.classifier, output="probs")
    wrong_cls = classifier_model(renamed, tmp_path / "probs.onnx")
    with pytest.raises(ModelError, match=r"names output 'activation_18' but the model has \['probs'\]"):
        GestureClassifier(models.classifier, create_backend("onnxruntime", wrong_cls))


@pytest.mark.parametrize("which", ["detector", "classifier"])
def test_a_fixed_batch_above_one_is_refused_at_start_up(tmp_path: Path, models, which: str) -> None:
    """Issue 22: such a model passed the start-up check and then failed on every frame."""
    if which == "detector":
        path = detector_model(models.detector, tmp_path / "d2.onnx", batch=2)
        build = lambda: HandDetector(models.detector, create_backend("onnxruntime", path), ClusterConfig())  # noqa: E731
    else:
        path = classifier_model(models.classifier, tmp_path / "c2.onnx", batch=2)
        build = lambda: GestureClassifier(models.classifier, create_backend("onnxruntime", path))  # noqa: E731
    with pytest.raises(ModelError, match="has a fixed batch of 2"):
        build()


def test_classifier_with_fixed_batch_one_runs_hand_by_hand(tmp_path: Path, models) -> None:
    path = classifier_model(models.classifier, tmp_path / "b1.onnx", batch=1)
    cls = GestureClassifier(models.classifier, create_backend("onnxruntime", path))
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :100] = (0, 0, 255)  # BGR red
    img[:, 100:] = (255, 0, 0)  # BGR blue
    res = cls.classify(img, "bgr", np.array([[0, 0, 100, 100], [100, 0, 200, 100]], np.float32))
    labels = models.classifier.labels
    assert [r.label for r in res if r] == [labels[0], labels[2]]


def test_execution_providers_fall_back_to_what_is_there_with_one_note(synthetic: dict[str, Path]) -> None:
    """Issue 24: an ordered providers list. No GPU here: CUDA and TensorRT are not in this
    onnxruntime, so the model runs on the CPU and the backend says so once; /diagnostics shows
    ``provider`` (test_runtime_parameters.py)."""
    import onnxruntime as ort

    model = synthetic["classifier"]
    plain = create_backend("onnxruntime", model)
    assert plain.provider == "CPUExecutionProvider" and plain.notes == []
    absent = [p for p in ("cuda", "tensorrt") if {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}[p]
              not in ort.get_available_providers()]  # fmt: skip
    if not absent:
        pytest.skip("this onnxruntime has CUDA and TensorRT: no fallback to show")
    b = create_backend("onnxruntime", model, providers=",".join([*absent, "cpu"]))
    assert b.provider == "CPUExecutionProvider" and len(b.notes) == 1
    assert "not available here" in b.notes[0] and "runs on CPUExecutionProvider" in b.notes[0]
    implied = create_backend("onnxruntime", model, providers=absent[0])  # the CPU is always the last resort
    assert implied.provider == "CPUExecutionProvider"
    x = np.zeros((1, 3, 160, 160), np.float32)
    np.testing.assert_array_equal(
        b.infer({"input_1": x})["activation_18"], plain.infer({"input_1": x})["activation_18"]
    )
    with pytest.raises(ModelError, match=r"unknown ONNX Runtime execution provider 'tpu' \(use: tensorrt, cuda"):
        create_backend("onnxruntime", model, providers="tpu,cpu")


def test_tensorrt_ep_options_are_its_documented_keys() -> None:
    from gesture_ros.backends.onnxruntime_backend import parse_providers, provider_options

    trt = "TensorrtExecutionProvider"
    assert parse_providers("tensorrt, CUDA") == [trt, "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert parse_providers(None) == ["CPUExecutionProvider"]
    assert provider_options(trt, "/var/cache/trt", "int8") == {
        "trt_fp16_enable": "True", "trt_int8_enable": "True",
        "trt_engine_cache_enable": "True", "trt_engine_cache_path": "/var/cache/trt",
    }  # fmt: skip
    assert provider_options(trt, "", "fp32") == {"trt_fp16_enable": "False", "trt_int8_enable": "False"}
    assert provider_options("CUDAExecutionProvider", "/x", "fp16") == {}
    with pytest.raises(ModelError, match="precision must be one of fp32, fp16, int8"):
        provider_options(trt, "", "int4")

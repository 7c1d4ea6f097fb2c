"""The Python-backend model repository written by `gesture-train triton-repo`, served by the real
CPU `tritonserver` (pytriton wheel, .venv-triton from scripts/setup_triton.sh): same scores as
in-process ONNX Runtime on real crops, a bad request is one error and the server stays up."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from gesture_ros.backends import create_backend
from gesture_ros.core.preprocess import Preprocessor
from gesture_ros.triton_server import start
from training.cli import main as train_cli

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    venv = ROOT / ".venv-triton"
    if not (venv / "bin" / "python").is_file():
        pytest.fail("no .venv-triton: run `bash scripts/setup_triton.sh` (make test does)")
    repo = tmp_path_factory.mktemp("repo")
    assert train_cli(["triton-repo", "--out", str(repo), "--flavour", "python", "--max-batch", "8"]) == 0
    with start(repo, venv) as s:
        yield s
    assert s.process.poll() is not None  # stopped by its own PID


def _infer(url: str, x: np.ndarray, name: str = "input_1") -> np.ndarray:
    body = json.dumps({"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}).encode()
    req = urllib.request.Request(f"http://{url}/v2/models/gesture_classifier/infer", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        out = json.loads(r.read())["outputs"][0]
    return np.asarray(out["data"], np.float32).reshape(out["shape"])


def test_served_scores_equal_in_process_onnxruntime(server, models, shared_data: Path) -> None:
    spec = models.classifier
    pre = Preprocessor(spec.input, max_batch=6)
    crops = [sorted((shared_data / "gestures" / c).glob("hagridcrop__*.jpg"))[0] for c in spec.labels]
    for i, p in enumerate(crops):
        pre.fill(i, cv2.imread(str(p)), "bgr")
    x = pre.tensor[:6].copy()
    local = create_backend("onnxruntime", ROOT / spec.file).infer({spec.input.name: x})[spec.output]
    served = _infer(server.http_url, x)
    assert served.shape == (6, 6)
    np.testing.assert_allclose(served, local, atol=1e-4)
    assert served.argmax(1).tolist() == local.argmax(1).tolist()


def test_bad_request_is_an_error_and_the_server_stays_up(server) -> None:
    with pytest.raises(urllib.error.HTTPError) as exc:
        _infer(server.http_url, np.zeros((1, 3, 100, 100), np.float32))
    assert exc.value.code == 400
    assert server.ready() and _infer(server.http_url, np.zeros((2, 3, 160, 160), np.float32)).shape == (2, 6)


@pytest.mark.parametrize(("protocol", "shm"), [("grpc", False), ("grpc", True), ("http", False), ("http", True)])
def test_triton_backend_equals_onnxruntime(server, models, shared_data: Path, protocol: str, shm: bool) -> None:
    """The package's triton backend, gRPC and HTTP, shared memory on and off, on real crops."""
    from gesture_ros.core.pipeline import GestureClassifier

    spec = models.classifier
    url = server.grpc_url if protocol == "grpc" else server.http_url
    remote = GestureClassifier(spec, create_backend("triton", spec.triton_model, url=url, protocol=protocol, shared_memory=shm))
    local = GestureClassifier(spec, create_backend("onnxruntime", ROOT / spec.file))
    img = cv2.imread(str(sorted((shared_data / "gestures" / "two").glob("subhih__*.jpg"))[0]))
    h, w = img.shape[:2]
    rois = np.array([[0, 0, w // 2, h // 2], [w // 4, h // 4, w, h], [0, 0, w, h], [w // 3, 0, w, h // 2]], np.float32)
    a, b = remote.classify(img, "bgr", rois), local.classify(img, "bgr", rois)
    assert all(x is not None and y is not None for x, y in zip(a, b, strict=True))
    for x, y in zip(a, b, strict=True):
        assert x.class_id == y.class_id
        np.testing.assert_allclose(x.scores, y.scores, atol=1e-4)
    remote.backend.close()


def test_startup_checks_are_one_clear_error(server, models, tmp_path: Path) -> None:
    from gesture_ros.core.errors import ModelError
    from gesture_ros.core.pipeline import GestureClassifier

    spec = models.classifier
    with pytest.raises(ModelError, match="model 'gesturenet' is not ready"):
        create_backend("triton", "gesturenet", url=server.grpc_url)
    with pytest.raises(ModelError, match=r"triton 127.0.0.1:1: server live: .*(refused|unavailable|failed)"):
        create_backend("triton", spec.triton_model, url="127.0.0.1:1", timeout_s=0.5)
    with pytest.raises(ModelError, match=r"max_batch_size 8 in its config\.pbtxt but the node sends up to 16"):
        create_backend("triton", spec.triton_model, url=server.grpc_url, max_batch=16)
    # a repository whose config.pbtxt declares another input shape: the node's check names both sides
    repo = tmp_path / "wrong"
    assert train_cli(["triton-repo", "--out", str(repo)]) == 0
    cfg = repo / "gesture_classifier" / "config.pbtxt"
    cfg.write_text(cfg.read_text().replace("dims: [ 3, 160, 160 ]", "dims: [ 3, 224, 224 ]"))
    with start(repo, ROOT / ".venv-triton") as other:
        backend = create_backend("triton", spec.triton_model, url=other.grpc_url)
        with pytest.raises(ModelError, match=r"input 'input_1' has shape \[3, 224, 224\] .* but \[3, 160, 160\] in the model description"):
            GestureClassifier(spec, backend)
        backend.close()

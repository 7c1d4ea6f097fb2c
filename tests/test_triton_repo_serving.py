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

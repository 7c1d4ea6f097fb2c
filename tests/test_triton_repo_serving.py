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
from gesture_ros.training.cli import main as train_cli
from gesture_ros.triton_server import start

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    venv = ROOT / ".venv-triton"
    if not (venv / "bin" / "python").is_file():
        pytest.fail("no .venv-triton: run `bash scripts/setup_triton.sh` (make test does)")
    repo = tmp_path_factory.mktemp("repo")
    det = str(ROOT / "models" / "hand_detector.onnx")
    assert (
        train_cli(["triton-repo", "--out", str(repo), "--flavour", "python", "--max-batch", "8", "--detector", det])
        == 0
    )
    with start(repo, venv) as s:
        yield s
    assert s.process.poll() is not None  # stopped by its own PID


def _infer(url: str, x: np.ndarray, name: str = "input_1") -> np.ndarray:
    body = json.dumps(
        {"inputs": [{"name": name, "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()}]}
    ).encode()
    req = urllib.request.Request(
        f"http://{url}/v2/models/gesture_classifier/infer", body, {"Content-Type": "application/json"}
    )
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
    remote = GestureClassifier(
        spec, create_backend("triton", spec.triton_model, url=url, protocol=protocol, shared_memory=shm)
    )
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
        with pytest.raises(
            ModelError,
            match=r"input 'input_1' has shape \[3, 224, 224\] .* but \[3, 160, 160\] in the model description",
        ):
            GestureClassifier(spec, backend)
        backend.close()


def _hands(frame: np.ndarray) -> list:
    from gesture_ros.core.pipeline import Hand

    h, w = frame.shape[:2]
    roi = np.array([0, 0, w, h], np.float32)
    return [Hand(roi.copy(), 0.9, 0, "hand", roi, True)]


def _post(url: str, path: str) -> int:
    req = urllib.request.Request(f"http://{url}{path}", b"{}", {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return int(r.status)


def test_model_unloaded_then_loaded_again(models, tmp_path: Path) -> None:
    """Explicit model control: unload -> gestures unavailable (the classifier stops sending);
    load -> the link reconnects by itself and classification resumes."""
    import time

    from gesture_ros.core.pipeline import GestureClassifier, classify_hands

    spec = models.classifier
    repo = tmp_path / "repo"
    assert train_cli(["triton-repo", "--out", str(repo)]) == 0
    args = ("--model-control-mode=explicit", f"--load-model={spec.triton_model}")
    frame = np.full((120, 120, 3), 128, np.uint8)
    with start(repo, ROOT / ".venv-triton", extra_args=args) as s:
        cls = GestureClassifier(
            spec, create_backend("triton", spec.triton_model, url=s.grpc_url, lazy=True), reconnect_max=0.5
        )
        hands = _hands(frame)
        assert classify_hands(cls, frame, "bgr", hands) is None and hands[0].gesture is not None
        assert _post(s.http_url, f"/v2/repository/models/{spec.triton_model}/unload") == 200
        hands = _hands(frame)
        err = classify_hands(cls, frame, "bgr", hands)
        assert err is not None and hands[0].gesture is None and cls.link is not None and not cls.link.up
        assert _post(s.http_url, f"/v2/repository/models/{spec.triton_model}/load") == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not cls.link.ready():
            time.sleep(0.1)
        hands = _hands(frame)
        assert classify_hands(cls, frame, "bgr", hands) is None and hands[0].gesture is not None
        assert cls.link.faults == 1 and cls.link.reconnects == 1
        cls.backend.close()


SLOW_MODEL = """
import time
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        time.sleep(1.5)  # a server that answers late
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "input_1").as_numpy()
            probs = np.full((x.shape[0], 6), 1 / 6, np.float32)
            out.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("activation_18", probs)]))
        return out
"""


def test_slow_responses_time_out_without_blocking_longer(models, tmp_path: Path) -> None:
    """A real Python-backend model that answers after 1.5 s; with a 0.3 s timeout each request
    fails after ~0.3 s (never 1.5 s) and the hands stay unclassified."""
    import time

    from gesture_ros.core.pipeline import GestureClassifier, classify_hands

    spec = models.classifier
    repo = tmp_path / "slow"
    assert train_cli(["triton-repo", "--out", str(repo)]) == 0
    (repo / spec.triton_model / "1" / "model.py").write_text(SLOW_MODEL)
    frame = np.full((120, 120, 3), 128, np.uint8)
    with start(repo, ROOT / ".venv-triton") as s:
        backend = create_backend("triton", spec.triton_model, url=s.grpc_url, timeout_s=0.3)
        cls = GestureClassifier(spec, backend)
        hands = _hands(frame)
        t0 = time.monotonic()
        err = classify_hands(cls, frame, "bgr", hands)
        took = time.monotonic() - t0
        assert err is not None and "Deadline" in err and hands[0].gesture is None
        assert took < 1.0
        backend.close()


def test_detector_through_triton_equals_onnxruntime(server, models, shared_data: Path) -> None:
    from gesture_ros.core.detectnet import ClusterConfig
    from gesture_ros.core.pipeline import HandDetector

    spec = models.detector
    remote = HandDetector(
        spec, create_backend("triton", spec.triton_model, url=server.grpc_url, max_batch=1), ClusterConfig()
    )
    # the repository declares the model at its full size, so the in-process reference letterboxes too
    local = HandDetector(spec, create_backend("onnxruntime", ROOT / spec.file), ClusterConfig(), fit_input=False)
    assert not remote.any_size and local.input_size(640, 480) == remote.input_size(640, 480) == (512, 288)
    found = 0
    for img_path in sorted((shared_data / "hands_detect" / "images").glob("*.jpg"))[::70]:
        img = cv2.imread(str(img_path))
        a, b = remote.detect(img, "bgr"), local.detect(img, "bgr")
        found += len(a)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    assert found > 0  # hands were found, so the comparison says something
    remote.backend.close()


def test_reconnecting_keeps_one_shared_memory_region_on_the_server(server, models) -> None:
    """Issue 22, defect 4: every reconnection registered a new region and left the old one
    registered on a server that had only timed out; after three reconnections the live server
    holds exactly the one region in use, and classification through it still works."""
    import tritonclient.grpc as grpcclient

    spec = models.classifier
    backend = create_backend("triton", spec.triton_model, url=server.grpc_url, protocol="grpc", shared_memory=True)
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def ours() -> list[str]:
        status = client.get_system_shared_memory_status(as_json=True)
        regions = status.get("regions", {})
        names = regions.keys() if isinstance(regions, dict) else [r["name"] for r in regions]
        return [n for n in names if n.startswith("gesture_ros_")]

    try:
        assert len(ours()) == 1
        for _ in range(3):
            assert backend.reconnect()
        assert ours() == [backend._shm_name]
        x = np.zeros((1, 3, spec.input.height, spec.input.width), np.float32)
        assert backend.infer({spec.input.name: x})[spec.output].shape == (1, len(spec.labels))
        backend.close()
        assert ours() == []  # and close() leaves none behind
    finally:
        backend.close()
        client.close()


def test_a_triton_detector_starts_before_its_server_and_survives_a_restart(
    models, shared_data: Path, tmp_path: Path
) -> None:
    """Issue 22, defect 4: a detector served by Triton had no link. Built before its server was up
    it failed at start-up for good (the node stayed ERROR); now it reports each frame as
    unavailable, connects once the server is up, and reconnects after a restart (its shared
    memory region registered again on the new server), with the in-process detector's boxes."""
    import time

    from gesture_ros import factory
    from gesture_ros.core.detectnet import Detections
    from gesture_ros.core.errors import BackendUnavailableError
    from gesture_ros.core.pipeline import HandDetector
    from gesture_ros.settings import CLUSTERING
    from gesture_ros.triton_server import free_port

    spec = models.detector
    repo = tmp_path / "repo"
    assert train_cli(["triton-repo", "--out", str(repo), "--detector", str(ROOT / spec.file)]) == 0
    ports = {"http_port": free_port(), "grpc_port": free_port(), "metrics_port": free_port()}
    values = factory.parameter_values()
    values.update({"detector.backend": "triton", "triton.url": f"127.0.0.1:{ports['grpc_port']}", "triton.timeout": 0.5,
                   "triton.reconnect_max": 0.5, "triton.shared_memory": True})  # fmt: skip
    img = cv2.imread(str(sorted((shared_data / "hands_detect" / "images").glob("*.jpg"))[0]))
    local = create_backend("onnxruntime", ROOT / spec.file)  # letterboxed, as the repository's full-size model
    want = HandDetector(spec, local, CLUSTERING.build(values), fit_input=False).detect(img, "bgr")
    assert len(want) > 0

    det = factory.detector(values, models)  # no server yet: before the fix, a ModelError here
    assert det.link is not None and not det.link.up
    with pytest.raises(BackendUnavailableError, match="detector backend down"):
        det.detect(img, "bgr")

    def detect_when_up(seconds: float) -> Detections:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                return det.detect(img, "bgr")
            except BackendUnavailableError:
                time.sleep(0.1)
        pytest.fail(f"the detector did not reconnect in {seconds} s: {det.link.last_error if det.link else ''}")

    try:
        for _ in range(2):  # first start, then a restart on the same ports
            with start(repo, ROOT / ".venv-triton", **ports):
                got = detect_when_up(30)
                np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-3)
            with pytest.raises(BackendUnavailableError):  # the server is gone
                det.detect(img, "bgr")
            assert not det.link.up
        assert det.link.reconnects == 2
    finally:
        det.backend.close()

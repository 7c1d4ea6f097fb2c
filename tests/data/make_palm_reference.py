"""Write palm_reference.npz: MediaPipe's palm detector run by LiteRT (TensorFlow Lite's own
interpreter), the reference that tests/test_training_palm.py holds gesture_ros/training/palm_trunk.py to.

Run once in a scratch venv (it is not a dependency of the package):
    python -m venv /tmp/litert && /tmp/litert/bin/pip install ai-edge-litert==2.3.0 opencv-python-headless numpy
    /tmp/litert/bin/python tests/data/make_palm_reference.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter

ROOT = Path(__file__).resolve().parents[2]
# the same file gesture_ros.training.palm_trunk.resolve_palm_tflite("full") finds (this script runs without torch)
TFLITE = sorted(
    ROOT.glob(".venv-mediapipe/lib/python3*/site-packages/mediapipe/modules/palm_detection/palm_detection_full.tflite")
)[-1]
IMAGE = "subhih__16_pic00021.jpg"  # SubhiH/HandsDataset, Apache-2.0 (../shared/data/hands_detect)
CUTS = {16: "p_re_lu_27", 8: "p_re_lu_30"}  # gesture_ros/training/palm_trunk.PALM_CUTS


def main() -> None:
    im = cv2.cvtColor(cv2.imread(str(ROOT.parent / "shared/data/hands_detect/images" / IMAGE)), cv2.COLOR_BGR2RGB)
    rgb = cv2.resize(im, (192, 192), interpolation=cv2.INTER_AREA)  # kept as uint8: the input, exactly
    x = rgb.astype(np.float32) / 255.0
    it = Interpreter(model_path=str(TFLITE), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[None])
    it.invoke()
    feats = {}
    for stride, name in CUTS.items():
        cut = [d["index"] for d in it.get_tensor_details() if name in d["name"] and len(d["shape"]) == 4]
        feats[stride] = it.get_tensor(cut[0])[0]  # [12, 12, 256] and [24, 24, 128]
    score = it.get_tensor(it.get_output_details()[1]["index"]).max()
    np.savez_compressed(Path(__file__).with_name("palm_reference.npz"), image=IMAGE, rgb=rgb,
                        feature=feats[16].astype(np.float16), feature_8=feats[8].astype(np.float16),
                        max_palm_logit=np.float32(score))  # fmt: skip
    for stride, f in feats.items():
        print(f"{IMAGE}: stride-{stride} feature {f.shape}, |max| {np.abs(f).max():.2f}")
    print(f"best palm logit {score:.2f}")


if __name__ == "__main__":
    main()

"""Profile the core pipeline (no ROS) on the sample video with pyinstrument.

    .venv/bin/python benchmarks/profile_core.py --out benchmarks/profiles/after.txt

Kept with the numbers in benchmarks/README.md: where a frame's time goes besides inference.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
from pyinstrument import Profiler

from gesture_ros import paths
from gesture_ros.core.image import image_view
from gesture_ros.core.model_spec import load_models
from gesture_ros.factory import parameter_values, pipeline


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=4, help="passes over the 56 frames")
    args = ap.parse_args()
    pipe = pipeline(parameter_values(), load_models(paths.resolve("config/models.yaml")))
    cap = cv2.VideoCapture(str(paths.share_dir() / "samples" / "hands_demo.mp4"))
    frames = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img.tobytes())
        h, w = img.shape[:2]
    pipe.process(*image_view("bgr8", h, w, w * 3, frames[0]))  # warm-up
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(args.repeat):
        for data in frames:
            pipe.process(*image_view("bgr8", h, w, w * 3, data))
    profiler.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    print(args.out.read_text()[:3000])


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# MediaPipe Hands, the CPU peer `gesture-ros bench` measures against, in its own venv
# (.venv-mediapipe): mediapipe 0.10.14 brings its own opencv-contrib, protobuf 4 and jax.
root=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$root/scripts/setup_extra_venv.sh" mediapipe "${GESTURE_ROS_MEDIAPIPE_VENV:-$root/.venv-mediapipe}" requirements/mediapipe.txt

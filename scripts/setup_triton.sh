#!/usr/bin/env bash
# The local Triton server's own venv (.venv-triton), idempotently: nvidia-pytriton ships a real CPU
# tritonserver binary (Python backend only) and needs numpy<2, which the main venv cannot have.
root=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$root/scripts/setup_extra_venv.sh" triton "${GESTURE_ROS_TRITON_VENV:-$root/.venv-triton}" requirements/triton.txt

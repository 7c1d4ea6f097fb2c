#!/usr/bin/env bash
# The local Triton server's own venv (.venv-triton), idempotently: nvidia-pytriton ships a real CPU
# tritonserver binary (Python backend only) and needs numpy<2, which the main venv cannot have.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${GESTURE_ROS_TRITON_VENV:-$root/.venv-triton}"
py="${PYTHON:-python3}"
cd "$root"
reqs=$(sha256sum requirements/triton.txt | cut -d' ' -f1)
if [[ "$(cat "$venv/.requirements.stamp" 2>/dev/null)" == "$reqs" ]]; then
  exit 0
fi
start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
mkdir -p build
echo "[setup-triton] installing tritonserver (nvidia-pytriton) into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements/triton.txt > build/pip-install-triton.log 2>&1 \
  || { grep -v "^WARNING: Location" build/pip-install-triton.log | tail -30; exit 1; }
echo "$reqs" > "$venv/.requirements.stamp"
echo "[setup-triton] ready in $(( $(date +%s) - start )) s: $venv"

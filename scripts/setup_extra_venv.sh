#!/usr/bin/env bash
# A tool's own venv, idempotently: setup_extra_venv.sh LABEL VENV REQUIREMENTS.
# Used for what cannot share the main venv: tritonserver (nvidia-pytriton pins numpy<2) and the
# MediaPipe peer the benchmark compares against (its own protobuf/opencv-contrib/jax pins).
set -euo pipefail
label=$1 venv=$2 reqs_file=$3
root=$(cd "$(dirname "$0")/.." && pwd)
py="${PYTHON:-python3}"
cd "$root"
reqs=$(sha256sum "$reqs_file" | cut -d' ' -f1)
if [[ "$(cat "$venv/.requirements.stamp" 2>/dev/null)" == "$reqs" ]]; then
  exit 0
fi
start=$(date +%s)
[[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
mkdir -p build
log="build/pip-install-$label.log"
echo "[setup-$label] installing $reqs_file into $venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$reqs_file" > "$log" 2>&1 \
  || { grep -v "^WARNING: Location" "$log" | tail -30; exit 1; }
echo "$reqs" > "$venv/.requirements.stamp"
echo "[setup-$label] ready in $(( $(date +%s) - start )) s: $venv"

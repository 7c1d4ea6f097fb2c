#!/usr/bin/env bash
# Sets up everything the package needs on a fresh Debian/Python 3.11 machine, idempotently:
# a venv (.venv) with pinned ROS 2 wheels, the gesture_ros_msgs interfaces built into it, and
# gesture_ros installed (editable). Re-running only does what changed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${GESTURE_ROS_VENV:-$root/.venv}"
py="${PYTHON:-python3}"
cd "$root"
start=$(date +%s)
if [[ ! -x "$venv/bin/python" ]]; then
  echo "[setup] creating $venv"
  "$py" -m venv "$venv"
fi
reqs=$(cat requirements/runtime.txt requirements/build.txt requirements/dev.txt requirements/train.txt | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$venv/.requirements.stamp" 2>/dev/null)" != "$reqs" ]]; then
  echo "[setup] installing pinned requirements (ROS 2 Kilted wheels, ONNX Runtime, OpenCV, torch CPU, dev tools)"
  mkdir -p build
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements/runtime.txt -r requirements/build.txt \
    -r requirements/dev.txt -r requirements/train.txt > build/pip-install.log 2>&1 || { grep -v "^WARNING: Location" build/pip-install.log | tail -30; exit 1; }
  echo "$reqs" > "$venv/.requirements.stamp"
fi
mkdir -p build
bash scripts/build_msgs.sh "$venv"
pkg=$(cat setup.py setup.cfg package.xml | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$venv/.package.stamp" 2>/dev/null)" != "$pkg" ]] || ! "$venv/bin/python" -c "import gesture_ros" 2>/dev/null; then
  echo "[setup] installing gesture_ros (editable)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . >/dev/null
  echo "$pkg" > "$venv/.package.stamp"
fi
# ros2 run finds the console scripts in lib/gesture_ros (setup.cfg); the README's commands run
# them as .venv/bin/gesture-ros and .venv/bin/gesture-train (on PATH after `source .venv/bin/activate`)
for tool in gesture-ros gesture-train; do
  ln -sfn "../lib/gesture_ros/$tool" "$venv/bin/$tool"
done
echo "[setup] ready in $(( $(date +%s) - start )) s: $venv"

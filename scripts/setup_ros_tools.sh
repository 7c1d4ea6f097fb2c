#!/usr/bin/env bash
# Installs the real ROS 2 launch and command-line tools (`ros2 launch`, `ros2 run`, `ros2 topic`,
# `ros2 param`, `ros2 lifecycle` ...) into the venv from the sources in
# ../shared/third_party/ros2 (they are not on PyPI). Tests that need them are skipped with the
# reason when that folder is absent. A robot has these tools from its ROS install already.
# Idempotent: skips when the sources and this script are unchanged since the last install.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${GESTURE_ROS_VENV:-$root/.venv}"
src="${GESTURE_ROS_THIRD_PARTY:-$root/../shared/third_party/ros2}"
# vision_msgs (not on PyPI): the 2D detection messages, from tests/interfaces (same type hashes)
bash "$root/scripts/build_msgs.sh" "$venv" "$root/tests/interfaces/vision_msgs"
if [[ ! -d "$src/launch_repo" ]]; then
  echo "[ros-tools] $src not found: ros2 launch / ros2 param tests will be skipped"
  exit 0
fi
packages=(
  launch_repo/launch launch_repo/launch_xml launch_repo/launch_yaml
  launch_ros_repo/launch_ros launch_ros_repo/ros2launch rosidl_runtime_py_repo
  ros2cli_repo/ros2cli ros2cli_repo/ros2pkg ros2cli_repo/ros2node ros2cli_repo/ros2service
  ros2cli_repo/ros2topic ros2cli_repo/ros2param ros2cli_repo/ros2run ros2cli_repo/ros2lifecycle
)
cd "$root"
stamp="$venv/.ros_tools.stamp"
hash=$( (cat "$0" requirements/ros_tools.txt 2>/dev/null; cd "$src" && find "${packages[@]}" -name '*.py' -o -name 'package.xml' | sort | xargs cat) | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$stamp" 2>/dev/null)" == "$hash" ]] && [[ -x "$venv/bin/ros2" ]]; then
  echo "[ros-tools] up to date"
  exit 0
fi
start=$(date +%s)
# pip builds a local folder in place: build from a copy, ../shared stays untouched
work="$root/build/ros_tools_src"
rm -rf "$work" && mkdir -p "$work"
for p in "${packages[@]}"; do
  mkdir -p "$work/$(dirname "$p")"
  cp -r "$src/$p" "$work/$p"
  rm -rf "$work/$p/build" "$work/$p"/*.egg-info
done
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r requirements/ros_tools.txt \
  > build/pip-ros-tools.log 2>&1 || { grep -v "^WARNING: Location" build/pip-ros-tools.log | tail -30; exit 1; }
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  "${packages[@]/#/$work/}" >> build/pip-ros-tools.log 2>&1 \
  || { grep -v "^WARNING: Location" build/pip-ros-tools.log | tail -30; exit 1; }
# launch_ros imports composition_interfaces (service definitions): built like gesture_ros_msgs
bash scripts/build_msgs.sh "$venv" "$src/rcl_interfaces_repo/composition_interfaces"
"$venv/bin/ros2" --help > /dev/null
echo "$hash" > "$stamp"
echo "[ros-tools] launch, launch_ros, ros2cli installed into $venv in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Proves that the tree builds with colcon the way a ROS 2 user builds it
# (`colcon build` in a workspace with this repo under src/), using the PyPI ROS wheels of the
# venv as the underlay. On a regular ROS install, drop the --cmake-args line.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${GESTURE_ROS_VENV:-$root/.venv}"
ws="$root/build/colcon_ws"
rm -rf "$ws" && mkdir -p "$ws/src"
ln -s "$root" "$ws/src/gesture_ros"
cd "$ws"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" LD_LIBRARY_PATH="$venv/lib:${LD_LIBRARY_PATH:-}" PATH="$venv/bin:$PATH"
# The repo root is the gesture_ros package; colcon does not look inside a package folder, so
# the interface package in it is named explicitly.
colcon build --paths src/gesture_ros src/gesture_ros/gesture_ros_msgs \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$venv/bin/python" -DPython3_FIND_VIRTUALENV=ONLY \
  -DCMAKE_PROJECT_INCLUDE="$root/cmake/venv_include_fix.cmake" > "$ws/colcon.log" 2>&1 \
  || { tail -40 "$ws/colcon.log"; exit 1; }
tail -3 "$ws/colcon.log"
# what a user gets after `source install/setup.bash`
set +u
# shellcheck disable=SC1091
source install/setup.bash
set -u
test -x install/gesture_ros/lib/gesture_ros/gesture_pipeline_node
test -f install/gesture_ros/share/gesture_ros/launch/gesture_fused.launch.py
test -f install/gesture_ros/share/gesture_ros/config/models.yaml
test -f install/gesture_ros_msgs/share/gesture_ros_msgs/msg/Gesture.msg
cd /tmp && python - <<'PY'
import gesture_ros, gesture_ros_msgs.msg as m
from gesture_ros.msg import Gesture
print("colcon install OK:", gesture_ros.__file__, m.__file__, Gesture.__name__)
PY

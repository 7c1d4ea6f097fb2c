#!/usr/bin/env bash
# Builds gesture_ros_msgs with CMake and installs it into the virtual environment given as $1
# (the layout ament uses: <venv>/share, <venv>/lib, site-packages). Idempotent: skips the build
# when the .msg files and the CMake files are unchanged since the last install.
set -euo pipefail
venv=$(cd "${1:?usage: build_msgs.sh VENV}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py="$venv/bin/python"
stamp="$venv/.gesture_ros_msgs.stamp"
hash=$(cat "$root"/msg/*.msg "$root"/gesture_ros_msgs/CMakeLists.txt "$root"/gesture_ros_msgs/package.xml \
        "$root"/cmake/venv_include_fix.cmake | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && "$py" -c "import gesture_ros_msgs.msg" 2>/dev/null; then
  echo "gesture_ros_msgs: up to date"
  exit 0
fi
build="$root/build/gesture_ros_msgs"
rm -rf "$build"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" LD_LIBRARY_PATH="$venv/lib:${LD_LIBRARY_PATH:-}"
export PATH="$venv/bin:$PATH"
cmake -S "$root/gesture_ros_msgs" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$py" -DPython3_FIND_VIRTUALENV=ONLY \
  -DCMAKE_PROJECT_INCLUDE="$root/cmake/venv_include_fix.cmake" > "$root/build/gesture_ros_msgs.cmake.log" 2>&1 \
  || { cat "$root/build/gesture_ros_msgs.cmake.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" > "$root/build/gesture_ros_msgs.build.log" 2>&1 \
  || { tail -50 "$root/build/gesture_ros_msgs.build.log"; exit 1; }
cmake --install "$build" > /dev/null
"$py" -c "import gesture_ros_msgs.msg"
echo "$hash" > "$stamp"
echo "gesture_ros_msgs: built and installed into $venv"

#!/usr/bin/env bash
# Builds a ROS 2 interface package with CMake and installs it into the virtual environment given as
# $1 (the layout ament uses: <venv>/share, <venv>/lib, site-packages). $2 is the package folder:
# gesture_ros_msgs by default; the test set-up builds composition_interfaces (what launch_ros needs)
# and vision_msgs the same way. Idempotent: skips the build when the package's interface files and
# the CMake files are unchanged since the last install.
set -euo pipefail
venv=$(cd "${1:?usage: build_msgs.sh VENV [PACKAGE_DIR]}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
pkg=$(cd "${2:-$root/gesture_ros_msgs}" && pwd)
name=$(basename "$pkg")
py="$venv/bin/python"
stamp="$venv/.$name.stamp"
# gesture_ros_msgs reads its .msg files from the repository's top-level msg/ folder
sources=("$pkg")
[[ "$name" == gesture_ros_msgs ]] && sources+=("$root/msg")
hash=$( (find "${sources[@]}" -type f \( -name '*.msg' -o -name '*.srv' -o -name CMakeLists.txt -o -name package.xml \) \
         | sort | xargs cat; cat "$root/cmake/venv_include_fix.cmake") | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]] && "$py" -c "import $name" 2>/dev/null; then
  echo "$name: up to date"
  exit 0
fi
build="$root/build/$name"
rm -rf "$build"
mkdir -p "$root/build"
export AMENT_PREFIX_PATH="$venv" CMAKE_PREFIX_PATH="$venv" LD_LIBRARY_PATH="$venv/lib:${LD_LIBRARY_PATH:-}"
export PATH="$venv/bin:$PATH"
cmake -S "$pkg" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DBUILD_TESTING=OFF \
  -DPython3_EXECUTABLE="$py" -DPython3_FIND_VIRTUALENV=ONLY \
  -DCMAKE_PROJECT_INCLUDE="$root/cmake/venv_include_fix.cmake" > "$root/build/$name.cmake.log" 2>&1 \
  || { cat "$root/build/$name.cmake.log"; exit 1; }
cmake --build "$build" -j"$(nproc)" > "$root/build/$name.build.log" 2>&1 \
  || { tail -50 "$root/build/$name.build.log"; exit 1; }
cmake --install "$build" > /dev/null
"$py" -c "import $name"
echo "$hash" > "$stamp"
echo "$name: built and installed into $venv"

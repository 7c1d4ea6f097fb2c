#!/usr/bin/env bash
# Runs a command with the ROS environment a test or demo on this machine needs:
# its own ROS_DOMAIN_ID (unless set), DDS on localhost only, logs inside the repo, and the
# shipped Fast DDS shared-memory profile (large images between processes).
root=$(cd "$(dirname "$0")/.." && pwd)
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 100 ))}"
export ROS_LOCALHOST_ONLY="${ROS_LOCALHOST_ONLY:-1}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$root/build/ros_log}"
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$root/config/fastdds_shm.xml}"
export RCUTILS_COLORIZED_OUTPUT=0
exec "$@"

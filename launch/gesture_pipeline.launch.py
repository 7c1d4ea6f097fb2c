"""Separate nodes: camera -> hand_detector -> roi -> gesture_classifier -> overlay.

ros2 launch gesture_ros gesture_pipeline.launch.py params_file:=... image_topic:=... backend:=tensorrt
(the graph and its arguments: config/graph_separate.yaml, config/launch_arguments.yaml)
"""

from gesture_ros.launch_support import launch_description


def generate_launch_description():
    return launch_description("graph_separate.yaml")

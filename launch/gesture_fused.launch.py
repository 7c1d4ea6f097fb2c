"""All stages in one process: camera -> gesture_pipeline.

ros2 launch gesture_ros gesture_fused.launch.py params_file:=... image_topic:=... backend:=tensorrt
(the graph and its arguments: config/graph_fused.yaml, config/launch_arguments.yaml)
"""

from gesture_ros.launch_support import launch_description


def generate_launch_description():
    return launch_description("graph_fused.yaml")

"""``from gesture_ros.msg import Gesture`` works: the interfaces live in gesture_ros_msgs.

rosidl_generator_py and ament_python_install_package would both install a Python package named
``gesture_ros`` if one ROS package carried both the messages and this code, so the messages are
built by the interface package ``gesture_ros_msgs`` and re-exported here.
"""

from gesture_ros_msgs.msg import Box, Detection, DetectionArray, Gesture, GestureArray, GestureEvent

__all__ = ["Box", "Detection", "DetectionArray", "Gesture", "GestureArray", "GestureEvent"]

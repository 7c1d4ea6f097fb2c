"""gesture_ros: hand detection and gesture classification for ROS 2.

The maths lives in :mod:`gesture_ros.core` (no ROS import), inference engines behind
:mod:`gesture_ros.backends`, and the rclpy nodes in :mod:`gesture_ros.nodes`.
"""

__version__ = "0.1.0"

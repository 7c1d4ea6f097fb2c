"""rclpy nodes: they hold parameters, convert messages and call :mod:`gesture_ros.core`."""

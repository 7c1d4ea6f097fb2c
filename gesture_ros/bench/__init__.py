"""``python -m gesture_ros.bench``: how close the package runs to its models' inference limit, and
how it compares with MediaPipe Hands, measured inside one run (the machines are noisy)."""

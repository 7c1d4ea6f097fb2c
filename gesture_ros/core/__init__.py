"""Pure-numpy core of the pipeline: nothing here imports ROS, so it runs in tests and training."""

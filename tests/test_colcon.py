"""The tree builds with colcon as a ROS 2 workspace package (ament_python + ament_cmake)."""

import subprocess

import pytest
from ros_harness import ROOT


@pytest.mark.slow
def test_colcon_build_of_both_packages() -> None:
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "colcon_check.sh")], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "colcon install OK" in out.stdout

"""gesture_ros: an ament_python package (colcon) that also installs with pip into a venv."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "gesture_ros"

NODES = {
    "camera_node": "gesture_ros.nodes.camera_node:main",
    "hand_detector_node": "gesture_ros.nodes.hand_detector_node:main",
    "roi_node": "gesture_ros.nodes.roi_node:main",
    "gesture_classifier_node": "gesture_ros.nodes.gesture_classifier_node:main",
    "gesture_pipeline_node": "gesture_ros.nodes.gesture_pipeline_node:main",
    "overlay_node": "gesture_ros.nodes.overlay_node:main",
    "gesture_echo": "gesture_ros.nodes.echo_node:main",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["gesture_ros", "gesture_ros.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/msg", glob("msg/*.msg")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.md") + glob("models/*.json")),
        (f"share/{PACKAGE}/samples", glob("samples/*.*")),
    ],
    install_requires=["setuptools", "numpy", "PyYAML"],
    zip_safe=True,
    maintainer="gesture_ros maintainers",
    maintainer_email="maintainers@gesture-ros.invalid",
    description="Hand detection and gesture classification nodes for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            *(f"{name} = {target}" for name, target in NODES.items()),
            "gesture-ros = gesture_ros.cli:main",
            "gesture-train = gesture_ros.training.cli:main",
        ],
    },
)

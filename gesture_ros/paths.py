"""Where the package's shared files (config/, models/, launch/) are found.

In a source checkout they sit next to the Python package; once installed by colcon or pip they
are in ``<prefix>/share/gesture_ros`` (ament layout). Relative model paths in config files are
resolved against this directory so the same YAML works in both places.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_NAME = "gesture_ros"


def share_dir() -> Path:
    """Return the directory that holds ``config/`` and ``models/``.

    ``GESTURE_ROS_SHARE`` wins (useful for tests and deploy bundles), then a source checkout,
    then the ament share directory of an installed package.
    """
    env = os.environ.get("GESTURE_ROS_SHARE")
    if env:
        return Path(env)
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "config" / "models.yaml").is_file():
        return source_root
    installed = Path(sys.prefix) / "share" / PACKAGE_NAME
    if (installed / "config").is_dir():
        return installed
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE_NAME))
    except Exception:
        return source_root


def resolve(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """Resolve ``path`` against ``base`` (default: the share directory) unless absolute."""
    p = Path(os.path.expandvars(os.path.expanduser(str(path))))
    if p.is_absolute():
        return p
    return (base or share_dir()) / p

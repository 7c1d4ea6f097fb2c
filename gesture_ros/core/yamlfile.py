"""Reading YAML files: safe loading only, one ConfigError naming the file on any problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML file's content; missing, unreadable or invalid is one :class:`ConfigError` naming ``what``."""
    p = Path(path)
    try:
        return yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {p} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {p} is not valid YAML: {exc}") from None

"""What the package loads from files and messages: safe YAML only, torch weights only, no pickle
or eval, and paths checked before use (a static scan of the sources plus behaviour checks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from gesture_ros.core.errors import ConfigError
from gesture_ros.core.yamlfile import read_yaml

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "gesture_ros").rglob("*.py"), *(ROOT / "launch").glob("*.py")])


def _calls(path: Path) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            base = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            out.append((f"{base}.{name}" if base else name, node))
    return out


def test_no_unsafe_loader_anywhere_in_the_sources() -> None:
    assert len(SOURCES) > 50
    problems = []
    for path in SOURCES:
        text = path.read_text()
        for mod in ("pickle", "marshal", "shelve", "dill"):
            if f"import {mod}" in text:
                problems.append(f"{path}: imports {mod}")
        for name, call in _calls(path):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            if name in ("eval", "exec"):
                problems.append(f"{where}: {name}()")
            if name in ("yaml.load", "yaml.unsafe_load", "yaml.full_load"):
                problems.append(f"{where}: {name} (use yaml.safe_load)")
            if name == "torch.load":
                kw = {k.arg: k.value for k in call.keywords}
                if not (isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True):
                    problems.append(f"{where}: torch.load without weights_only=True")
    assert problems == []


def test_yaml_with_python_tags_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.yaml"
    bad.write_text("a: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match=r"evil\.yaml"):
        read_yaml(bad, "params file")
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.safe_load(bad.read_text())


def test_torch_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("this ran while loading",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "payload": Evil()}, path)
    from gesture_ros.training.loop import load_checkpoint

    with pytest.raises(Exception, match=r"(?i)weights"):
        load_checkpoint(path)

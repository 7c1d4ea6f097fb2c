"""The package's shape, checked so it cannot drift back (issue 22): the core imports nothing
above it, backends are imported only when created, the bench does not pull in the trainers,
and ``gesture_ros.training`` has no import circle. Imports run in fresh interpreters, so what
this test process already imported cannot hide a dependency."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from gesture_ros.backends import create_backend, names, register
from gesture_ros.core.errors import ModelError

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "gesture_ros"


def _loaded_after(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """Modules starting with one of ``prefixes`` in ``sys.modules`` after running ``code`` in a new interpreter."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(m for m in sys.modules if m.startswith({prefixes!r})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return sorted(x for x in out.stdout.split() if x)


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the modules one file imports (at the top or inside functions)."""
    parts = package.split(".")
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` imports a module
    return found


def test_the_core_imports_nothing_above_it() -> None:
    core = sorted(p.stem for p in (PKG / "core").glob("*.py") if p.stem != "__init__")
    for p in (PKG / "core").glob("*.py"):
        outside = {
            m
            for m in _imports(p, "gesture_ros.core")
            if m.startswith("gesture_ros.") and not m.startswith("gesture_ros.core")
        }
        assert not outside, f"{p.name} imports {sorted(outside)}"
    code = "\n".join(f"import gesture_ros.core.{m}" for m in core)
    assert _loaded_after(code, ("gesture_ros.backends", "gesture_ros.nodes", "rclpy", "onnxruntime", "torch")) == []


def test_backends_are_imported_only_when_created() -> None:
    assert (
        _loaded_after(
            "import gesture_ros.backends, gesture_ros.settings", ("onnxruntime", "openvino", "tritonclient", "tensorrt")
        )
        == []
    )
    assert _loaded_after(
        "from gesture_ros.backends import create_backend\ncreate_backend('onnxruntime', 'models/gesture_classifier.onnx')",
        (
            "onnxruntime",
            "openvino",
            "tritonclient",
            "tensorrt",
            "gesture_ros.backends.triton",
            "gesture_ros.backends.tensorrt",
        ),
    ) == ["onnxruntime", *_onnxruntime_submodules()]


def _onnxruntime_submodules() -> list[str]:
    return [m for m in _loaded_after("import onnxruntime", ("onnxruntime",)) if m != "onnxruntime"]


class _Constant:
    """A backend of this test's own: every output is its input's first element."""

    def __init__(self, model_file: str, **options: object) -> None:
        self.options = options
        self.inputs: list[object] = []
        self.outputs: list[object] = []

    def infer(self, feeds: dict) -> dict:
        return {"y": next(iter(feeds.values()))[:1]}

    def close(self) -> None:
        pass


def test_a_backend_registers_by_name() -> None:
    with pytest.raises(
        ModelError, match=r"unknown backend 'nope' \(use one of: onnxruntime, openvino, tensorrt, triton"
    ):
        create_backend("nope", "x")
    register("test_constant", f"{__name__}:_Constant")
    try:
        b = create_backend("test_constant", "m.onnx", threads=2)
        assert isinstance(b, _Constant) and b.options == {"threads": 2}
        assert "test_constant" in names()
    finally:
        from gesture_ros.backends import registry

        registry._REGISTRY.pop("test_constant")


def test_the_bench_does_not_import_the_trainers() -> None:
    for p in (PKG / "bench").glob("*.py"):
        bad = {
            m for m in _imports(p, "gesture_ros.bench") if m.startswith(("gesture_ros.training", "training", "torch"))
        }
        assert not bad, f"bench/{p.name} imports {sorted(bad)}"


def test_training_is_a_dag() -> None:
    """No circle among gesture_ros.training's modules, counting imports inside functions."""
    pkg = "gesture_ros.training"
    mods = {p.stem: p for p in (PKG / "training").glob("*.py")}
    graph = {
        m: {d.split(".")[2] for d in _imports(p, pkg) if d.startswith(pkg + ".") and d.split(".")[2] in mods} - {m}
        for m, p in mods.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                pytest.fail("import circle: " + " -> ".join([*path[path.index(d) :], d]))
            if d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert graph["qat"] and graph["prune"]  # the walk saw the edges it checks


def test_the_training_package_name_cannot_clash() -> None:
    """Installed as gesture_ros.training: no top-level ``training`` package in site-packages."""
    assert not (ROOT / "training").exists()
    setup = (ROOT / "setup.py").read_text()
    assert '"training"' not in setup and "gesture_ros.training.cli:main" in setup


def _exits(path: Path) -> list[str]:
    """Where a file ends the process (``sys.exit``, ``raise SystemExit``, ``parser.exit``) outside
    module level and the entry points (``main``, ``spin_node``)."""
    found = []

    def visit(node: ast.AST, func: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            name = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else func
            exits = False
            if isinstance(child, ast.Raise) and child.exc is not None:
                target = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
                exits = isinstance(target, ast.Name) and target.id == "SystemExit"
            elif isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "exit":
                exits = True
            if exits and func not in (None, "main", "spin_node"):
                found.append(f"{path.relative_to(ROOT)}:{child.lineno} in {func}")
            visit(child, name)

    visit(ast.parse(path.read_text()), None)
    return found


def test_command_lines_are_tables_and_only_main_ends_the_process(capsys: pytest.CaptureFixture[str]) -> None:
    """One sub-command table per CLI; library code raises typed errors and the CLIs' main alone
    turns them into one line and an exit code (2 bad input, 3 a model problem, 4 a helper process)."""
    import inspect

    from gesture_ros import cli
    from gesture_ros.training import cli as train_cli

    for module in (cli, train_cli):
        parser = module.build_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        assert set(sub.choices) == {c.name for c in module.COMMANDS}
        body = ast.parse(inspect.getsource(module.main)).body[0].body  # type: ignore[attr-defined]
        assert len([st for st in body if not isinstance(st, ast.Expr)]) == 1  # `return commands.run(...)`: nothing else
    assert [e for p in sorted(PKG.rglob("*.py")) for e in _exits(p)] == []
    assert cli.main(["up", "config/graph_fused.yaml", "no-value"]) == 2
    assert cli.main(["triton-server", "--repo", str(ROOT / "no_such_repo")]) == 4
    err = capsys.readouterr().err.splitlines()
    assert err == ["gesture-ros up: error: launch arguments are name:=value, got 'no-value'",
                   f"gesture-ros triton-server: error: model repository not found: {ROOT / 'no_such_repo'}"]  # fmt: skip

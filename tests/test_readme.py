"""The README's commands work as written: every shell line of its ```bash blocks is checked.

- ``make T [VAR=v]``: T is a target (``make -n`` succeeds), and the commands the target would run
  are checked like README lines.
- ``gesture-ros`` / ``gesture-train`` (as ``.venv/bin/...``, or bare after ``source
  .venv/bin/activate``; also ``torchrun ... -m gesture_ros.training.cli``): the executable exists after the
  set-up, the arguments parse with the tool's own parser, and every input path they name exists.
  The short ones (``SHORT``) run for real, in order, in a sandbox that mirrors the checkout (with
  ``../shared`` beside it), so one line's output can be the next line's input.
- ``python -m M``: M imports. ``kill``, ``cd``, ``source`` and the like are shell.
- A block preceded by ``<!-- readme: robot -->`` is for a robot with ROS 2 installed: here its
  ``ros2 launch`` lines name a launch file of ``launch/`` with arguments that
  ``config/launch_arguments.yaml`` declares, and ``colcon --paths`` name package folders;
  tests/test_ros2_tools.py runs the block itself with the real ``colcon`` and ``ros2``.
- ```python blocks compile, and the modules they import exist.

Anything else is an unknown command: the test fails, so the README cannot drift from the code.
Paths: a user's own data is written ``~/...`` or ``my_...`` (not checked); ``runs/``, ``out/``,
``engines/``, ``bundle/``, ``build/`` and ``model_repo`` are made by earlier commands.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from ros_harness import ROOT

README = ROOT / "README.md"
VENV_BIN = ROOT / ".venv" / "bin"
TOOLS = ("gesture-ros", "gesture-train")
SHELL = {"cd", "source", "kill", "export", "ls", "wait", "git", "pip"}
PRODUCED = ("runs/", "out/", "engines/", "bundle/", "build/", "model_repo", "install/")
PATH_SUFFIXES = (
    ".yaml",
    ".yml",
    ".onnx",
    ".pt",
    ".mp4",
    ".engine",
    ".etlt",
    ".cache",
    ".json",
    ".csv",
    ".xml",
    ".py",
    ".tflite",
)
#: (tool, sub-command) pairs that run for real: each takes seconds
SHORT = {("gesture-ros", "args"), ("gesture-ros", "make-bag"), ("gesture-ros", "eval"), ("gesture-train", "dataset-report"),
         ("gesture-train", "triton-repo"), ("gesture-train", "engines")}  # fmt: skip
#: argparse destinations that name what a command writes, not what it reads
OUTPUTS = {"out", "json", "plot", "models_dir", "output"}


@dataclass
class Line:
    text: str
    robot: bool


def shell_lines(markdown: str) -> list[Line]:
    """Every command line of the ```bash blocks (continuations joined, comments dropped)."""
    lines: list[Line] = []
    for m in re.finditer(r"(<!-- readme: robot -->\s*)?```bash\n(.*?)```", markdown, re.S):
        robot = bool(m.group(1))
        text = m.group(2).replace("\\\n", " ")
        for raw in text.splitlines():
            cmd = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if cmd:
                lines.append(Line(cmd, robot))
    return lines


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, re.S)


def _parser(tool: str) -> argparse.ArgumentParser:
    if tool == "gesture-ros":
        from gesture_ros.cli import build_parser
    else:
        from gesture_ros.training.cli import build_parser
    return build_parser()


class ParseError(Exception):
    pass


def parse_args(tool: str, argv: list[str]) -> argparse.Namespace:
    if tool == "gesture-ros" and argv[:1] == ["bench"]:
        from gesture_ros.bench.run import parse

        try:
            return parse(argv[1:])
        except SystemExit as exc:
            raise ParseError(f"gesture-ros bench: arguments {argv[1:]} do not parse") from exc
    try:
        return _parser(tool).parse_args(argv)
    except SystemExit as exc:
        raise ParseError(f"{tool}: arguments {argv} do not parse") from exc


def _path_like(value: str) -> bool:
    return "/" in value or value.endswith(PATH_SUFFIXES)


def inputs(ns: argparse.Namespace, cwd: Path) -> tuple[list[str], list[str]]:
    """The input paths a parsed command names that do not exist, and those that cannot be checked
    here (a user's own data; what an earlier command has not made in this run); outputs aside."""
    missing, unverifiable = [], []
    for dest, value in vars(ns).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if not isinstance(v, str) or dest in OUTPUTS or not _path_like(v) or ":=" in v or v.startswith(("/", "--")):
                continue
            if v.startswith(("~", "<")) or "my_" in v or (v.startswith(PRODUCED) and not (cwd / v).exists()):
                unverifiable.append(f"{dest}={v}")
            elif not (cwd / v).exists():
                missing.append(f"{dest}={v}")
    return missing, unverifiable


def inline_commands(markdown: str) -> list[str]:
    """Commands quoted in the prose: `make TARGET ...` and `.venv/bin/TOOL ...` code spans."""
    return re.findall(r"`((?:make [\w-]+|\.venv/bin/gesture-(?:ros|train) )[^`]*)`", markdown)


def sandbox(tmp: Path) -> Path:
    """A folder that looks like the checkout (links to its entries) with ../shared beside it."""
    root = tmp / "p"
    root.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in {"out", "runs", "build", ".git"}:
            (root / entry.name).symlink_to(entry)
    if (ROOT.parent / "shared").exists():
        (tmp / "shared").symlink_to(ROOT.parent / "shared")
    return root


class Checker:
    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.ran: list[str] = []
        self.parsed: list[str] = []

    def check(self, line: Line) -> None:
        words = shlex.split(line.text.replace("&", " ").replace("%", ""))
        if not words:
            return
        exe = words[0]
        if line.robot:
            return self._robot(words)
        if exe in SHELL:
            return None
        if exe == "make":
            return self._make(words[1:])
        if exe in ("python", "python3") and words[1:2] == ["-m"]:
            assert importlib.util.find_spec(words[2]) is not None, f"{line.text}: no module {words[2]}"
            return None
        if exe == "torchrun":
            assert (VENV_BIN / "torchrun").exists(), f"{VENV_BIN / 'torchrun'} is missing after the set-up"
            i = words.index("-m")
            assert words[i + 1] == "gesture_ros.training.cli", line.text
            return self._tool("gesture-train", words[i + 2 :], line.text, run=False)
        name = Path(exe).name
        if name in TOOLS:
            if exe != name:  # a path: the README's .venv/bin/<tool>
                assert exe == f".venv/bin/{name}", f"{line.text}: run the tool as .venv/bin/{name}"
            assert (VENV_BIN / name).exists(), f"{VENV_BIN / name} is missing after the set-up"
            return self._tool(name, words[1:], line.text, run=True)
        raise AssertionError(f"README command not understood by tests/test_readme.py: {line.text!r}")

    def _tool(self, tool: str, argv: list[str], text: str, run: bool) -> None:
        ns = parse_args(tool, argv)
        missing, unverifiable = inputs(ns, self.cwd)
        assert not missing, f"{text}: input path(s) missing: {missing}"
        self.parsed.append(text)
        sub = argv[0] if argv else ""
        if run and (tool, sub) in SHORT and not unverifiable:
            r = subprocess.run([str(VENV_BIN / tool), *argv], cwd=self.cwd, capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
            assert r.returncode == 0, f"{text}: exit {r.returncode}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
            self.ran.append(text)

    def _make(self, args: list[str]) -> None:
        r = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"make {' '.join(args)}: {r.stderr[-800:]}"
        for cmd in r.stdout.replace("\\\n", " ").splitlines():
            words = shlex.split(cmd.split(" >", 1)[0]) if cmd.strip() else []
            if "gesture_ros.cli" in words:  # bash scripts/ros_env.sh .venv/bin/python -m gesture_ros.cli ...
                words = ["gesture-ros", *words[words.index("gesture_ros.cli") + 1 :]]
            if words and Path(words[0]).name in TOOLS:
                ns = parse_args(Path(words[0]).name, words[1:])
                missing, _ = inputs(ns, self.cwd)
                assert not missing, f"make {' '.join(args)} runs {cmd!r}: input path(s) missing: {missing}"
                self.parsed.append(cmd)

    def _robot(self, words: list[str]) -> None:
        if words[:2] == ["ros2", "launch"]:
            assert words[2] == "gesture_ros" and (ROOT / "launch" / words[3]).is_file(), f"no launch file {words[3]}"
            declared = set(yaml.safe_load((ROOT / "config" / "launch_arguments.yaml").read_text()))
            names = {w.split(":=", 1)[0] for w in words[4:] if ":=" in w}
            assert names <= declared, f"{' '.join(words)}: undeclared launch argument(s) {sorted(names - declared)}"
        elif words[:2] == ["ros2", "lifecycle"]:  # ros2 lifecycle get|set /node [transition] (&& ...)
            graphs = "".join(p.read_text() for p in (ROOT / "config").glob("graph_*.yaml"))
            for node in (w for w in words if w.startswith("/")):
                assert f"name: {node[1:]}," in graphs, f"{' '.join(words)}: no node {node} in config/graph_*.yaml"
        elif words[:3] == ["ros2", "param", "set"]:  # ros2 param set /node name value
            from gesture_ros.settings import PARAMS

            graphs = "".join(p.read_text() for p in (ROOT / "config").glob("graph_*.yaml"))
            assert f"name: {words[3][1:]}," in graphs, f"{' '.join(words)}: no node {words[3]} in config/graph_*.yaml"
            assert words[4] in PARAMS and not PARAMS[words[4]].read_only, f"{' '.join(words)}: not a writable parameter"
        elif words[:3] == ["ros2", "topic", "echo"]:
            from gesture_ros.settings import PARAMS

            topics = {str(p.default) for n, p in PARAMS.items() if n.endswith("_topic")}
            assert words[3].lstrip("/") in topics, f"{' '.join(words)}: not a topic of the package"
        elif words[:2] == ["colcon", "build"]:
            for w in words[words.index("--paths") + 1 :] if "--paths" in words else []:
                folder = w.removeprefix("src/gesture_ros").lstrip("/") or "."  # the checkout is src/gesture_ros
                assert (ROOT / folder / "package.xml").is_file(), f"colcon --paths {w}: no package.xml in {folder}"


def test_readme_lines_are_found() -> None:
    """The extraction itself: the README has blocks of each kind, and the make targets the
    README's own first block names are among them."""
    lines = shell_lines(README.read_text())
    assert any(x.text.startswith("make run") for x in lines) and any(x.text.startswith("make test") for x in lines)
    assert any(x.robot for x in lines) and any(not x.robot for x in lines)
    assert python_blocks(README.read_text())


def test_checker_rejects_what_does_not_exist(tmp_path: Path) -> None:
    """The checks can fail: an unknown command, a wrong flag, a missing input, a missing target."""
    c = Checker(sandbox(tmp_path))
    for bad, why in (
        ("frobnicate --all", "not understood"),
        (".venv/bin/gesture-train detector --no-such-flag 1", "do not parse"),
        (".venv/bin/gesture-ros eval tests/data/no_such_bag", "missing"),
        ("make no-such-target", "make no-such-target"),
        ("bin/gesture-ros args config/graph_fused.yaml", "run the tool as"),
    ):
        with pytest.raises((AssertionError, ParseError), match=why):
            c.check(Line(bad, False))
    with pytest.raises(AssertionError, match="undeclared launch argument"):
        c.check(Line("ros2 launch gesture_ros gesture_fused.launch.py no_such_arg:=1", True))


@pytest.mark.slow
def test_every_readme_command_works_as_written(tmp_path: Path) -> None:
    if not (ROOT.parent / "shared").exists():
        pytest.skip("../shared is not beside the checkout (the README's training lines read it)")
    c = Checker(sandbox(tmp_path))
    for line in shell_lines(README.read_text()):
        c.check(line)
    for text in inline_commands(README.read_text()):  # `make run-triton` in a sentence
        c.check(Line(text, False))
    assert len(c.ran) >= 3 and len(c.parsed) >= 15, (c.ran, c.parsed)


def test_python_examples_compile_and_import() -> None:
    for code in python_blocks(README.read_text()):
        compile(code, "README.md", "exec")
        for mod in re.findall(r"^\s*(?:from|import)\s+([\w.]+)", code, re.M):
            assert importlib.util.find_spec(mod) is not None, (
                f"README's python example imports {mod}, which does not exist"
            )


if __name__ == "__main__":  # list what the test sees
    for x in shell_lines(README.read_text()):
        print(("robot " if x.robot else "here  ") + x.text)
    sys.exit(0)

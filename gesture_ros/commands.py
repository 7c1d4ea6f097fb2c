"""Sub-command tables for the package's command lines (``gesture-ros``, ``gesture-train``).

Each sub-command is one :class:`Command` row: name, help, a function that adds its arguments and
the function that runs it. Library code raises the typed errors of
:mod:`gesture_ros.core.errors`; :func:`run` alone turns an error into one line on stderr and an
exit code (:data:`EXIT_CODES`), so no command prints a traceback or exits by itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .core.errors import ConfigError, GestureRosError, ModelError, ServiceError

#: first match wins: 2 bad input (arguments, files, data), 3 a model that is missing or does
#: not match its description, 4 a helper process (tritonserver) that cannot start
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ModelError, 3),
    (ServiceError, 4),
    (ConfigError, 2),
    (GestureRosError, 2),
)


@dataclass(frozen=True)
class Command:
    """One sub-command."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    #: every argument after the name goes to the command as ``args.options`` (it has its own
    #: parser: ``gesture-ros bench``)
    passthrough: bool = False


def build_parser(prog: str, description: str | None, commands: Sequence[Command]) -> argparse.ArgumentParser:
    """The parser of a command table (``args.command`` names the sub-command)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for c in commands:
        c.arguments(sub.add_parser(c.name, help=c.help, add_help=not c.passthrough))
    return parser


def exit_code(exc: BaseException, extra: Sequence[tuple[type[BaseException], int]] = ()) -> int | None:
    """The exit code for an error, or None when it is not one the command line reports."""
    for kind, code in (*EXIT_CODES, *extra):
        if isinstance(exc, kind):
            return code
    return None


def run(
    prog: str,
    parser: argparse.ArgumentParser,
    commands: Sequence[Command],
    argv: Sequence[str],
    extra: Sequence[tuple[type[BaseException], int]] = (),
) -> int:
    """Parse ``argv``, run its command, and map a typed error (or one of ``extra``) to its code."""
    table = {c.name: c for c in commands}
    if argv and argv[0] in table and table[argv[0]].passthrough:
        args = argparse.Namespace(command=argv[0], options=list(argv[1:]))
    else:
        args = parser.parse_args(list(argv))
    try:
        return table[args.command].run(args)
    except Exception as exc:
        code = exit_code(exc, extra)
        if code is None:
            raise
        print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
        return code

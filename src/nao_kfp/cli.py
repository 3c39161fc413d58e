"""The `nao` command. Each area registers its subcommands from `nao_kfp.commands.<area>`.

Every user error (bad architecture, config key, pool line) is a NaoError: printed as one line
on stderr, exit status 2, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence

from nao_kfp import __version__
from nao_kfp.errors import SHOWN, NaoError, shorten

MAX_LINE = 2000  # characters of an error line

# Modules under nao_kfp.commands, each with `register(subparsers)`; their order is the help order.
COMMAND_MODULES = [
    "arch",
    "config",
    "pool",
    "controller",
    "child",
    "benchmark",
    "search",
    "export",
    "serve",
    "katib",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse quotes a bad value whole (`invalid int value: '<5000 digits>'`)
        message = _LONG_QUOTE.sub(lambda m: f"'{shorten(m.group(1), SHOWN)}'", message)
        self.exit(2, f"{self.prog}: error: {shorten(message, MAX_LINE)}\n")


_LONG_QUOTE = re.compile(rf"'([^']{{{SHOWN + 1},}})'")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="nao", description="Neural Architecture Optimization on Kubeflow Pipelines"
    )
    parser.add_argument("--version", action="version", version=f"nao-kfp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"nao_kfp.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NaoError as e:
        # one line, whatever a message quotes (each quotes at most errors.SHOWN of a value)
        print(f"nao: error: {shorten(str(e).replace(chr(10), ' '), MAX_LINE)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nao: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`nao arch sample ... | head`): stop quietly, and point stdout
        # at /dev/null so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""`tlstudio COMMAND ...`: the parser and the dispatch; each command is a module of this package with
NAME, add_parser(sub) and run(args).

Everything the GUI does runs headless from here with the same project file. Flags override
the project file; every bad value is reported in one line naming the flag and what it takes.
"""

from __future__ import annotations

import argparse
import os
import sys

import tlstudio
from tlstudio.cli import (
    cache,
    calibrate,
    demo_data,
    ensemble,
    export,
    gui,
    health,
    lr_find,
    predict,
    race,
    scan,
    train,
    worker,
)

COMMANDS = (gui, demo_data, scan, train, lr_find, race, ensemble, calibrate, health, export, worker, cache, predict)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tlstudio", description="TL Studio: transfer learning for small image datasets. "
                     "With no command, the desktop app opens.")
    parser.add_argument("--version", action="version", version=f"tlstudio {tlstudio.__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # TensorFlow's C++ start-up chatter (no CUDA driver, oneDNN notes) is not for users; real
    # failures still reach them as Python exceptions turned into one-line messages.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    if args.command is None:  # no command: the desktop app
        args = build_parser().parse_args(["gui"])
    return next(command for command in COMMANDS if command.NAME == args.command).run(args)

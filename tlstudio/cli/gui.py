"""`tlstudio gui [PROJECT | FOLDER] [--demo] [--train]`: the desktop app (also with no command)."""

from __future__ import annotations

import sys

NAME = "gui"


def add_parser(sub) -> None:
    command = sub.add_parser("gui", help="open the desktop app (default)")
    command.add_argument("target", nargs="?", help="a project .json or a data folder to open")
    command.add_argument("--demo", action="store_true", help="open on a demo dataset (created on first use)")
    command.add_argument("--train", action="store_true", help="start training as soon as the data is scanned")


def run(args) -> int:
    target, demo, train = args.target, args.demo, args.train
    try:  # lazy: Qt loads only for the desktop app, and a headless machine may lack its libraries
        from tlstudio.gui.app import run_gui
    except ImportError as error:
        print(f"tlstudio: the desktop app cannot start ({error}); use the CLI: tlstudio --help",
              file=sys.stderr)
        return 1
    if train and not (target or demo):
        print("tlstudio gui: --train needs a project .json, a data folder or --demo to train.", file=sys.stderr)
        return 2
    return run_gui(target, demo=demo, train=train)

"""`tlstudio worker`: the training process the desktop app starts for each run (not for people)."""

from __future__ import annotations

NAME = "worker"


def add_parser(sub) -> None:
    sub.add_parser("worker", help="internal: the training process the desktop app starts for each run")


def run(args) -> int:
    """The training worker the desktop app starts for each run (messages on stdout; not for people)."""
    from tlstudio.train.worker.process import main as worker_main

    return worker_main()

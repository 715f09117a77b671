"""`tlstudio race [PROJECT] --optimizers ... --lrs ...`: the same run with several optimizers / LRs."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from tlstudio.cli.console import ToolFailed, run_tool, trainable_project
from tlstudio.cli.options import add_project_flags, choices
from tlstudio.settings.project import OPTIMIZER_NAMES
from tlstudio.train.events import Observer

NAME = "race"


class _EntrantLines(Observer):
    """Each entrant's start as a line on stderr ("Entrant 2 of 6, adam LR 0.001"), unless the output is JSON."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def on_log(self, message: str) -> None:
        if message.startswith("race:") and not self.quiet:
            text = message[len("race: "):]
            print(text[:1].upper() + text[1:], file=sys.stderr, flush=True)


def add_parser(sub) -> None:
    command = sub.add_parser("race", help="train the same run with several optimizers / LRs side by side")
    command.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    command.add_argument("--optimizers", help=f"comma list of: {choices(OPTIMIZER_NAMES)} (default: the project's)")
    command.add_argument("--lrs", help="comma list of learning rates, e.g. 1e-3,3e-3 (default: the project's)")
    command.add_argument("--json", action="store_true", help="print every entrant's result and history as JSON")
    add_project_flags(command)


def run(args) -> int:
    from tlstudio.tools.race import RaceError, entrants_for, run_race

    try:
        project = trainable_project(args, "race")
        try:
            optimizers = [n.strip() for n in args.optimizers.split(",") if n.strip()] if args.optimizers else None
            rates = [float(r) for r in args.lrs.split(",") if r.strip()] if args.lrs else None
            entrants = entrants_for(project, optimizers, rates)
        except RaceError as error:
            print(f"tlstudio race: {error}", file=sys.stderr)
            return 2
        except ValueError:
            print(f"tlstudio race: --lrs {args.lrs}: give numbers separated by commas, e.g. 1e-3,3e-3.",
                  file=sys.stderr)
            return 2
        # Each entrant's evaluation traces its own small function; TensorFlow's retracing notice says nothing.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        lines = _EntrantLines(quiet=args.json)
        result = run_tool("race", lambda token: run_race(project, entrants, observer=lines, stop_token=token),
                          (RaceError,))
    except ToolFailed as failed:
        return failed.code
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(result.table())
    winner = result.winner
    cached = " (on cached backbone features)" if all(e.feature_cache for e in result.entrants) else ""
    print(f"{len(result.entrants)} entrants in {result.seconds:.1f} s{cached}")
    if winner:
        print(f"best: {winner.entrant.label}   (tlstudio train ... --optimizer {winner.entrant.optimizer} "
              f"--lr {winner.entrant.learning_rate:g})")
    return 0

"""`tlstudio lr-find [PROJECT] [flags]`: the LR range test, with a suggested learning rate."""

from __future__ import annotations

import json
from pathlib import Path

from tlstudio.cli.console import ConsoleProgress, ToolFailed, run_tool, trainable_project
from tlstudio.cli.options import add_project_flags

NAME = "lr-find"


def add_parser(sub) -> None:
    command = sub.add_parser("lr-find", help="LR range test: the loss as the LR grows; prints a suggested LR")
    command.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    command.add_argument("--json", action="store_true", help='print {"suggested_lr": ..., "lr": [...], "loss": [...]}')
    command.add_argument("--start-lr", type=float, default=1e-7, help="the sweep's first LR (default 1e-7)")
    command.add_argument("--end-lr", type=float, default=10.0, help="the sweep's last LR (default 10)")
    command.add_argument("--steps", type=int, default=100, help="optimizer steps of the sweep (default 100)")
    add_project_flags(command)


def run(args) -> int:
    from tlstudio.tools.lr_finder import LRFinderError, find_learning_rate

    try:
        project = trainable_project(args, "lr-find")
        result = run_tool("lr-find", lambda token: find_learning_rate(
            project, ConsoleProgress(quiet=args.json), token, start_lr=args.start_lr, end_lr=args.end_lr,
            steps=args.steps), (LRFinderError,))
    except ToolFailed as failed:
        return failed.code
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(_sparkline(result))
    steepest = f"{result.steepest_lr:.2g}" if result.steepest_lr else "none (the loss never fell)"
    print(f"steepest descent at LR {steepest}; lowest loss at LR {result.minimum_lr:.2g} (minimum / 10: "
          f"{result.minimum_lr / 10:.2g}); {len(result.losses)} steps in {result.seconds:.1f} s"
          f"{', the loss blew up before the end' if result.stopped_early else ''}")
    print(f"suggested learning rate: {result.suggested_lr:.2g}   (tlstudio train ... --lr {result.suggested_lr:.2g})")
    return 0


def _sparkline(result) -> str:
    """The smoothed loss against log LR, one character per column, for a terminal."""
    import numpy as np

    bars = " ▁▂▃▄▅▆▇█"
    lrs, losses = np.log10(result.learning_rates), np.asarray(result.smoothed)
    columns = np.linspace(lrs[0], lrs[-1], 60)
    values = np.interp(columns, lrs, losses)
    low, high = np.nanmin(values), np.nanpercentile(values, 95)
    scaled = np.clip((values - low) / max(high - low, 1e-12), 0, 1)
    line = "".join(bars[int(round(v * (len(bars) - 1)))] for v in scaled)
    return f"loss  {line}\n      LR {result.learning_rates[0]:.0e}{' ' * 44}{result.learning_rates[-1]:.0e}"

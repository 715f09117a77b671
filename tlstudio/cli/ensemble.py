"""`tlstudio ensemble RUN RUN ... --out DIR`: several runs averaged into one model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.base.tasks import TaskState
from tlstudio.cli.console import ConsoleTask

NAME = "ensemble"


def add_parser(sub) -> None:
    command = sub.add_parser("ensemble", help="average two or more runs into one model (a run folder of its own)")
    command.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders on the same data and classes")
    command.add_argument("--out", type=Path, required=True, help="the ensemble's run folder to create")
    command.add_argument("--json", action="store_true", help="print the members' and the ensemble's figures")


def run(args) -> int:
    from tlstudio.tools.ensemble import EnsembleError, make_ensemble

    try:
        result = make_ensemble(args.runs, args.out, task=TaskState() if args.json else ConsoleTask())
    except EnsembleError as error:
        print(f"tlstudio ensemble: {error}", file=sys.stderr)
        return 1 if len(args.runs) > 1 else 2
    if args.json:
        print(json.dumps({"run_dir": str(result.run_dir), "members": result.members,
                          "val_accuracy": result.metrics["val_accuracy"], "val_loss": result.metrics["val_loss"],
                          "shared_backbone": result.shared_backbone}))
        return 0
    print(result.table())
    backbone = "runs once (the members share a frozen backbone)" if result.shared_backbone else "runs once per member"
    print(f"the backbone {backbone}; wrote {result.run_dir} (export it with: tlstudio export {result.run_dir} "
          "--out DIR)")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0

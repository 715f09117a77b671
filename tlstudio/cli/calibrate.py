"""`tlstudio calibrate RUN`: temperature scaling of a run's model."""

from __future__ import annotations

import json
from pathlib import Path

from tlstudio.base.tasks import TaskState
from tlstudio.cli.console import ConsoleTask, ToolFailed, run_tool
from tlstudio.runs.folder import MODEL_FILE

NAME = "calibrate"


def add_parser(sub) -> None:
    command = sub.add_parser("calibrate", help="temperature-scale a run's model so its confidence matches its "
                               "accuracy (ECE before/after into metrics.json)")
    command.add_argument("run_dir", type=Path, metavar="RUN", help="a run folder made by train")
    command.add_argument("--json", action="store_true", help="print the temperature and the ECE before/after")


def run(args) -> int:
    return calibrate_folder(args.run_dir, as_json=args.json, quiet=args.json)


def calibrate_folder(run_dir: Path, *, as_json: bool, quiet: bool) -> int:
    from tlstudio.tools.calibrate import CalibrationError, calibrate_run

    try:
        result = run_tool("calibrate", lambda task: calibrate_run(run_dir, task=task), (CalibrationError,),
                           TaskState() if quiet else ConsoleTask(), stopped="stopped; the run is unchanged.")
    except ToolFailed as failed:
        return failed.code
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"calibrated: {result.summary()}")
        print(f"wrote {result.run_dir / MODEL_FILE} (the model as it was: model.uncalibrated.keras) and metrics.json")
    return 0

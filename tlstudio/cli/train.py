"""`tlstudio train [PROJECT] [flags]`: a training run, its folder written as it goes; also --resume and --continue."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from tlstudio.cli.calibrate import calibrate_folder
from tlstudio.cli.console import ConsoleProgress, ToolFailed
from tlstudio.cli.options import FLAG_FIELDS, add_project_flags, resolve_project
from tlstudio.settings.project import Project, ProjectError
from tlstudio.train.events import RunResult, RunStatus, StopToken
from tlstudio.train.readiness import training_blocker
from tlstudio.train.trainer import Trainer

NAME = "train"


def add_parser(sub) -> None:
    command = sub.add_parser("train", help="train a model and write a run folder")
    command.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    command.add_argument("--out", type=Path, help="the run folder to create (default runs/<time>-<backbone>)")
    command.add_argument("--save-project", type=Path, metavar="FILE", help="write the resolved project here")
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command.add_argument("--cpu-devices", type=int, metavar="N",
                       help="split the CPU into N logical devices, to try --strategy mirrored without GPUs")
    command.add_argument("--calibrate", action="store_true",
                       help="after training, fit a temperature on the validation split (as tlstudio calibrate)")
    again = command.add_mutually_exclusive_group()
    again.add_argument("--resume", type=Path, metavar="RUN",
                       help="finish a run's planned epochs from its last completed epoch (after a crash or a stop)")
    again.add_argument("--continue", dest="continue_run", type=Path, metavar="RUN",
                       help="train a run --epochs N more epochs, from its last epoch's weights and optimizer state")
    add_project_flags(command)


def run(args) -> int:
    try:
        _split_cpu(args.cpu_devices)
        going_on = args.resume or args.continue_run
        if going_on:
            _check_going_on(args)
            project = None
        else:
            project = _project_to_train(args)
        result = _train_with_ctrl_c_as_stop(args, project, going_on)
    except ToolFailed as failed:
        return failed.code
    return _report(args, result)


def _fail(code: int, message: str) -> ToolFailed:
    """One line on stderr; the exit code travels in the exception."""
    print(f"tlstudio train: {message}", file=sys.stderr)
    return ToolFailed(code)


def _split_cpu(devices: int | None) -> None:
    """--cpu-devices N, before anything starts TensorFlow's runtime."""
    if devices is None:
        return
    from tlstudio.train.distribute import DistributionError, split_cpu  # lazy: imports TensorFlow

    try:
        split_cpu(devices)
    except DistributionError as error:
        raise _fail(2, str(error)) from None


def _check_going_on(args) -> None:
    """--resume and --continue take the run's own settings and folder: any flag that would change them is refused."""
    given = [f"--{flag.replace('_', '-')}" for flag in FLAG_FIELDS if getattr(args, flag, None) is not None
             and not (flag == "epochs" and args.continue_run)]
    given += ["PROJECT"] * bool(args.project) + ["--augment"] * (args.augment is not None)
    given += ["--out"] * bool(args.out) + ["--save-project"] * bool(args.save_project)
    option = "--resume" if args.resume else "--continue"
    if given:
        raise _fail(2, f"{option} goes on with the run's own settings and folder; drop {', '.join(given)}.")
    if args.continue_run and not args.epochs:
        raise _fail(2, "--continue needs --epochs N, the number of epochs to add.")


def _project_to_train(args) -> Project:
    """The project of the file and the flags, saved when asked, and able to train."""
    try:
        project = resolve_project(args)
    except ProjectError as error:
        raise _fail(2, str(error)) from None
    if args.save_project:
        project.save(args.save_project)
        print(f"wrote the resolved project to {args.save_project}")
    reason = training_blocker(project)
    if reason:
        raise _fail(2, reason)
    return project


def _train_with_ctrl_c_as_stop(args, project: Project | None, going_on: Path | None) -> RunResult:
    """The run (or its resumption) with a progress bar; the first Ctrl+C is the Stop button (finish the batch,
    keep the best model, write the run), a second one aborts."""
    token = StopToken()
    observer = ConsoleProgress(quiet=args.quiet)

    def stop_gracefully(signum, frame):
        if token.stop_requested:
            raise KeyboardInterrupt
        token.request_stop()
        observer.close_line()
        print("stopping after this batch; the run folder is kept (Ctrl+C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, stop_gracefully)
    try:
        if going_on:
            return Trainer().resume(going_on, observer, token, more_epochs=args.epochs if args.continue_run else 0)
        return Trainer().run(project, observer, token, run_dir=args.out)
    except KeyboardInterrupt:
        observer.close_line()
        raise _fail(130, "aborted.") from None
    finally:
        observer.close_line()
        signal.signal(signal.SIGINT, previous)


def _report(args, result: RunResult) -> int:
    """How the run ended, its folder, and the calibration when asked; the exit code."""
    if result.status is RunStatus.FAILED:
        print(f"tlstudio train: {result.message}", file=sys.stderr)
        if result.run_dir:
            print(f"run folder: {result.run_dir}", file=sys.stderr)
        return 1
    accuracy = result.metrics.get("val_accuracy")
    shown = f"{accuracy:.1%}" if accuracy is not None else "n/a"
    print(f"{result.status.value.lower()}: validation accuracy {shown} "
          f"(best epoch {result.metrics.get('best_epoch')}), {result.metrics.get('seconds', 0):.0f} s")
    print(f"run folder: {result.run_dir}" if result.run_dir else "run folder: none here (the chief writes it)")
    if args.calibrate and result.run_dir:
        code = calibrate_folder(result.run_dir, as_json=False, quiet=args.quiet)
        if code:
            return code
    return 0 if result.status is RunStatus.FINISHED else 3

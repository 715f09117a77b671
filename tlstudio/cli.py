"""Command-line front end: gui | demo-data | scan | train | export | predict.

Everything the GUI does runs headless from here with the same project file. Flags override
the project file; every bad value is reported in one line naming the flag and what it takes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path

from tlstudio.config import (
    AUGMENTATION_NAMES,
    OPTIMIZER_NAMES,
    RESIZE_POLICIES,
    SCHEDULE_NAMES,
    STRATEGY_NAMES,
    AugmentSettings,
    OptimizerSettings,
    Project,
    ProjectError,
    ScheduleSettings,
)
from tlstudio.data import scan
from tlstudio.data.demo import DEMO_IMAGE_SIZE, DEMO_PER_CLASS, make_demo_dataset
from tlstudio.export import QUANTIZATIONS, ExportError, export_run, parse_formats
from tlstudio.inference import FORMATS, PredictorError, image_files, load_predictor
from tlstudio.registry import BACKBONE_NAMES, OFFLINE_BACKBONES, get_backbone
from tlstudio.runs import MODEL_FILE, is_run_folder
from tlstudio.tasks import TaskState
from tlstudio.train.events import Observer, RunStatus, StopToken
from tlstudio.train.readiness import training_blocker
from tlstudio.train.trainer import Trainer

# flag -> dotted Project field it writes
FLAG_FIELDS = {
    "data": "data.folder",
    "val_split": "data.val_split",
    "resize": "data.resize",
    "backbone": "model.backbone",
    "weights": "model.weights",
    "image_size": "model.image_size",
    "freeze": "model.freeze",
    "train_batchnorm": "model.train_batchnorm",
    "dropout": "model.dropout",
    "l2": "model.l2",
    "label_smoothing": "model.label_smoothing",
    "optimizer": "optimizer.name",
    "lr": "optimizer.learning_rate",
    "momentum": "optimizer.momentum",
    "weight_decay": "optimizer.weight_decay",
    "schedule": "schedule.name",
    "warmup_epochs": "schedule.warmup_epochs",
    "epochs": "training.epochs",
    "batch_size": "training.batch_size",
    "seed": "training.seed",
    "early_stopping": "training.early_stopping",
    "tensorboard": "training.tensorboard",
    "snapshot_ensemble": "training.snapshot_ensemble",
    "class_weights": "training.class_weights",
    "balanced_sampling": "training.balanced_sampling",
    "fine_tune_epochs": "training.fine_tune.epochs",
    "unfreeze": "training.fine_tune.unfreeze",
    "fine_tune_lr_factor": "training.fine_tune.lr_factor",
    "strategy": "training.strategy",
    "mixed_precision": "training.mixed_precision",
    "feature_runtime": "training.feature_runtime",
    "devices": "training.devices",
}
# Every other optimizer and schedule parameter has a flag of its own name (--beta-1, --plateau-patience):
# generated from the settings, so a new field gets its flag and its help text from one place.
SECONDARY_SECTIONS = {"optimizer": OptimizerSettings, "schedule": ScheduleSettings}
FLAG_FIELDS["ema"] = "optimizer.ema"  # --ema [DECAY]: its own flag, the decay optional
SECONDARY_FLAGS = {name: (section, field) for section, settings in SECONDARY_SECTIONS.items()
                   for name, field in settings.model_fields.items() if f"{section}.{name}" not in FLAG_FIELDS.values()}
FLAG_FIELDS.update({name: f"{section}.{name}" for name, (section, _) in SECONDARY_FLAGS.items()})


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line, without the usage block."""

    def error(self, message: str):  # noqa: D401 - argparse's signature
        self.exit(2, f"{self.prog}: {message}\n")


def _choices(names) -> str:
    return ", ".join(names)


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tlstudio", description="TL Studio: transfer learning for small image datasets. "
                     "With no command, the desktop app opens.")
    parser.add_argument("--version", action="version", version=f"tlstudio {_version()}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the desktop app (default)")
    gui.add_argument("target", nargs="?", help="a project .json or a data folder to open")
    gui.add_argument("--demo", action="store_true", help="open on a demo dataset (created on first use)")
    gui.add_argument("--train", action="store_true", help="start training as soon as the data is scanned")

    demo = sub.add_parser("demo-data", help="write a synthetic shapes dataset to play with")
    demo.add_argument("folder", type=Path)
    demo.add_argument("--per-class", type=int, default=DEMO_PER_CLASS,
                      help=f"images per class (default {DEMO_PER_CLASS})")
    demo.add_argument("--size", type=int, default=DEMO_IMAGE_SIZE,
                      help=f"image size in pixels (default {DEMO_IMAGE_SIZE})")
    demo.add_argument("--seed", type=int, default=0)

    scan = sub.add_parser("scan", help="report what a dataset folder holds, skips and why")
    scan.add_argument("folder", type=Path)
    scan.add_argument("--json", action="store_true", help="print the report as JSON")
    scan.add_argument("--max-megapixels", type=float, default=64.0)

    train = sub.add_parser("train", help="train a model and write a run folder")
    train.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    train.add_argument("--out", type=Path, help="the run folder to create (default runs/<time>-<backbone>)")
    train.add_argument("--save-project", type=Path, metavar="FILE", help="write the resolved project here")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--cpu-devices", type=int, metavar="N",
                       help="split the CPU into N logical devices, to try --strategy mirrored without GPUs")
    train.add_argument("--calibrate", action="store_true",
                       help="after training, fit a temperature on the validation split (as tlstudio calibrate)")
    again = train.add_mutually_exclusive_group()
    again.add_argument("--resume", type=Path, metavar="RUN",
                       help="finish a run's planned epochs from its last completed epoch (after a crash or a stop)")
    again.add_argument("--continue", dest="continue_run", type=Path, metavar="RUN",
                       help="train a run --epochs N more epochs, from its last epoch's weights and optimizer state")
    add_project_flags(train)

    lr_find = sub.add_parser("lr-find", help="LR range test: the loss as the LR grows; prints a suggested LR")
    lr_find.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    lr_find.add_argument("--json", action="store_true", help='print {"suggested_lr": ..., "lr": [...], "loss": [...]}')
    lr_find.add_argument("--start-lr", type=float, default=1e-7, help="the sweep's first LR (default 1e-7)")
    lr_find.add_argument("--end-lr", type=float, default=10.0, help="the sweep's last LR (default 10)")
    lr_find.add_argument("--steps", type=int, default=100, help="optimizer steps of the sweep (default 100)")
    add_project_flags(lr_find)

    race = sub.add_parser("race", help="train the same run with several optimizers / LRs side by side")
    race.add_argument("project", nargs="?", type=Path, help="a project .json (flags override it)")
    race.add_argument("--optimizers", help=f"comma list of: {_choices(OPTIMIZER_NAMES)} (default: the project's)")
    race.add_argument("--lrs", help="comma list of learning rates, e.g. 1e-3,3e-3 (default: the project's)")
    race.add_argument("--json", action="store_true", help="print every entrant's result and history as JSON")
    add_project_flags(race)

    ensemble = sub.add_parser("ensemble", help="average two or more runs into one model (a run folder of its own)")
    ensemble.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders on the same data and classes")
    ensemble.add_argument("--out", type=Path, required=True, help="the ensemble's run folder to create")
    ensemble.add_argument("--json", action="store_true", help="print the members' and the ensemble's figures")

    calibrate = sub.add_parser("calibrate", help="temperature-scale a run's model so its confidence matches its "
                               "accuracy (ECE before/after into metrics.json)")
    calibrate.add_argument("run_dir", type=Path, metavar="RUN", help="a run folder made by train")
    calibrate.add_argument("--json", action="store_true", help="print the temperature and the ECE before/after")

    health = sub.add_parser("health", help="dataset health: duplicates, split leaks, likely label mistakes, outliers")
    health.add_argument("data", type=Path, metavar="DATA", help="a folder of class sub-folders (or train/ and val/)")
    health.add_argument("--project", type=Path, metavar="FILE",
                        help="a project .json whose split, exclusions and image input to use")
    health.add_argument("--backbone", choices=BACKBONE_NAMES, metavar="NAME",
                        help="the frozen pretrained backbone whose features judge the images (default: the project's)")
    health.add_argument("--top", type=int, default=10, help="entries shown per finding (default 10)")
    health.add_argument("--json", action="store_true",
                        help='print {"duplicates": [...], "suspected_mislabeled": [...], "outliers": [...], ...}')

    export = sub.add_parser("export", help="export a run's model (.keras, SavedModel, TFLite, ONNX), verified")
    export.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder made by train")
    export.add_argument("--format", default=",".join(FORMATS),
                        help=f"comma list of: {_choices(FORMATS)} (default: all)")
    export.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help=f"TFLite precision: {_choices(QUANTIZATIONS)} (default none)")
    export.add_argument("--out", type=Path, required=True, help="the folder to write the exported files to")
    export.add_argument("--quiet", action="store_true", help="no progress lines")

    sub.add_parser("worker", help="internal: the training process the desktop app starts for each run")

    cache = sub.add_parser("cache", help="what the cache folder holds (decoded images, features, ...)")
    cache.add_argument("--clear", action="store_true", help="delete every cached entry (all can be made again)")
    cache.add_argument("--json", action="store_true", help='print {"folder": ..., "limit_bytes": ..., "kinds": {...}}')

    predict = sub.add_parser("predict", help="run an exported model (any format) on images")
    predict.add_argument("model", type=Path, metavar="MODEL_PATH",
                         help="a .keras, .tflite or .onnx file, a SavedModel folder, or a run folder")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show per image (default 3)")
    predict.add_argument("--json", action="store_true", help="print a JSON list, one entry per image")
    return parser


def add_project_flags(command: argparse.ArgumentParser) -> None:
    """The flags that write into the project (FLAG_FIELDS), for train, lr-find and race."""
    g = command.add_argument_group("data")
    g.add_argument("--data", help="folder of class sub-folders (or train/ and val/)")
    g.add_argument("--val-split", type=float, help="share of each class held out (0-1)")
    g.add_argument("--resize", choices=RESIZE_POLICIES, help=_choices(RESIZE_POLICIES))
    g = command.add_argument_group("model")
    offline = ", ".join(f"{name}: {get_backbone(name).weights_origin}" for name in OFFLINE_BACKBONES)
    g.add_argument("--backbone", choices=BACKBONE_NAMES, metavar="NAME",
                   help=f"{_choices(BACKBONE_NAMES)}; default: MobileNetV2 when Keras has its ImageNet weights "
                        f"cached, else squeezenet1_1. ImageNet weights without the network: {offline}")
    g.add_argument("--weights", help="imagenet, none, or a weights file")
    g.add_argument("--image-size", type=int, help="input size in pixels")
    g.add_argument("--freeze", help="'all', or how many backbone layers (from the input) to freeze")
    g.add_argument("--train-batchnorm", action="store_true", default=None,
                   help="let BatchNorm statistics of unfrozen layers update")
    g.add_argument("--dropout", type=float)
    g.add_argument("--l2", type=float)
    g.add_argument("--label-smoothing", type=float)
    g = command.add_argument_group("optimization")
    g.add_argument("--optimizer", choices=OPTIMIZER_NAMES, metavar="NAME", help=_choices(OPTIMIZER_NAMES))
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--momentum", type=float, help="momentum (rho) for momentum / nesterov")
    g.add_argument("--weight-decay", type=float, help="AdamW's weight decay")
    g.add_argument("--ema", type=float, nargs="?", const=0.99, metavar="DECAY",
                   help="Polyak averaging: validate and save an exponential moving average of the weights "
                        "(decay 0.99 when not given)")
    g.add_argument("--schedule", choices=SCHEDULE_NAMES, metavar="NAME", help=_choices(SCHEDULE_NAMES))
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="epochs without improvement; 0 off")
    g.add_argument("--augment", help=f"comma list of: {_choices(AUGMENTATION_NAMES)} (or none)")
    g.add_argument("--class-weights", choices=("off", "balanced"),
                   help="balanced: weight each class's loss by n / (classes x its count) (default off)")
    g.add_argument("--balanced-sampling", action="store_true", default=None,
                   help="draw every class equally often in each batch")
    g.add_argument("--snapshot-ensemble", type=int, metavar="K",
                   help="with --schedule cosine-restarts: the model averages the snapshots of the last K cycles")
    g.add_argument("--tensorboard", action="store_true", default=None,
                   help="write TensorBoard event files to RUN/tensorboard (open: tensorboard --logdir runs)")
    g = command.add_argument_group("devices (tf.distribute)")
    g.add_argument("--strategy", choices=STRATEGY_NAMES, metavar="NAME", help=(
        "auto (one device, or mirrored over several GPUs), mirrored (every local GPU, or --devices), "
        "multi-worker (the cluster in TF_CONFIG)"))
    g.add_argument("--devices", type=_comma_list, metavar="LIST",
                   help="with --strategy mirrored: the devices to mirror over, e.g. GPU:0,GPU:1")
    g = command.add_argument_group("speed (none changes what is learned beyond rounding)")
    g.add_argument("--mixed-precision", choices=("auto", "off", "float16", "bfloat16"), help=(
        "16-bit compute (auto: bfloat16 on a GPU that has it, and on a CPU with AVX512_BF16 or AMX when "
        "backbone layers train; else off)"))
    g.add_argument("--feature-runtime", choices=("auto", "tensorflow"), help=(
        "what runs the frozen backbone for the feature cache (auto: ONNX Runtime when its features match "
        "TensorFlow's)"))
    g = command.add_argument_group("optimizer and schedule parameters (each read by some of them)")
    for name, (section, field) in SECONDARY_FLAGS.items():
        kind = int if field.annotation is int else float
        g.add_argument(f"--{name.replace('_', '-')}", type=kind, metavar="N" if kind is int else "X",
                       help=f"{section}.{name}: {field.description}" if field.description else f"{section}.{name}")
    g = command.add_argument_group("fine-tuning (phase 2)")
    g.add_argument("--fine-tune-epochs", type=int, help="epochs of phase 2; 0 trains in one phase")
    g.add_argument("--unfreeze", type=int, help="backbone layers unfrozen in phase 2, from the top")
    g.add_argument("--fine-tune-lr-factor", type=float, help="phase 2 LR = LR x factor (default 0.1)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # TensorFlow's C++ start-up chatter (no CUDA driver, oneDNN notes) is not for users; real
    # failures still reach them as Python exceptions turned into one-line messages.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "gui"):
        return _gui(getattr(args, "target", None), getattr(args, "demo", False), getattr(args, "train", False))
    handlers = {"demo-data": _demo_data, "scan": _scan, "train": _train, "export": _export, "predict": _predict,
                "worker": _worker, "lr-find": _lr_find, "race": _race, "ensemble": _ensemble,
                "calibrate": _calibrate, "health": _health, "cache": _cache}
    return handlers[args.command](args)


def _gui(target: str | None, demo: bool, train: bool = False) -> int:
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


def _worker(args) -> int:
    """The training worker the desktop app starts for each run (messages on stdout; not for people)."""
    from tlstudio.train.worker_process import main as worker_main

    return worker_main()


def _demo_data(args) -> int:

    if args.per_class < 2 or args.size < 16:
        print("tlstudio demo-data: --per-class must be at least 2 and --size at least 16.", file=sys.stderr)
        return 2
    folder = make_demo_dataset(args.folder, per_class=args.per_class, size=args.size, seed=args.seed)
    print(f"wrote a demo dataset to {folder}")
    print(f"train on it: tlstudio train --data {folder}")
    return 0


def _cache(args) -> int:
    from tlstudio.files import CACHE_KINDS, cache_dir, cache_limit_bytes, cache_usage, clear_cache, format_bytes

    freed = clear_cache() if args.clear else None
    usage = cache_usage()
    if args.json:
        print(json.dumps({"folder": str(cache_dir()), "limit_bytes": cache_limit_bytes(), "freed_bytes": freed,
                          "kinds": {kind: {"bytes": size, "files": files} for kind, (size, files) in usage.items()}},
                         indent=2))
        return 0
    if freed is not None:
        print(f"Cleared {format_bytes(freed)} from {cache_dir()}.")
    total = sum(size for size, _ in usage.values())
    print(f"Cache folder: {cache_dir()} ({format_bytes(total)}; images, features and converted backbones are "
          f"kept under {format_bytes(cache_limit_bytes())}, least recently used dropped first)")
    for kind, (size, files) in usage.items():
        print(f"  {CACHE_KINDS[kind]:<40} {format_bytes(size):>10}  {files} file{'s' if files != 1 else ''}")
    return 0


def _scan(args) -> int:

    index = scan(args.folder, max_megapixels=args.max_megapixels)
    if args.json:
        print(json.dumps(index.to_report_dict(), indent=2))
    else:
        print(index.format_report())
    return 0 if index.ok else 1


def resolve_project(args) -> Project:
    """The project file (or defaults) with every given flag written into it, validated."""
    project = Project.load(args.project) if args.project else Project()
    for flag, dotted in FLAG_FIELDS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "data":
            value = str(Path(value).expanduser().resolve())
        try:
            project = project.copy_with(**{dotted: value})
        except ProjectError as error:
            reason = str(error).split(": ", 2)[-1]
            shown = ",".join(value) if isinstance(value, list) else value
            raise ProjectError(f"--{flag.replace('_', '-')} {shown}: {reason}") from None
    if args.augment is not None:
        names = [n.strip() for n in args.augment.split(",") if n.strip() and n.strip() != "none"]
        try:
            augment = AugmentSettings.from_names(names)
        except ProjectError as error:
            raise ProjectError(f"--augment: {error}") from None
        project = project.model_copy(update={"augment": augment})
    if project.data.folder is None:
        raise ProjectError("no data folder: give --data FOLDER or a project file that sets data.folder.")
    return project


def _train(args) -> int:
    if args.cpu_devices is not None:
        from tlstudio.train.distribute import DistributionError, split_cpu  # lazy: imports TensorFlow

        try:  # before anything starts TensorFlow's runtime
            split_cpu(args.cpu_devices)
        except DistributionError as error:
            print(f"tlstudio train: {error}", file=sys.stderr)
            return 2
    going_on = args.resume or args.continue_run
    if going_on:
        given = [f"--{flag.replace('_', '-')}" for flag in FLAG_FIELDS if getattr(args, flag, None) is not None
                 and not (flag == "epochs" and args.continue_run)]
        given += ["PROJECT"] * bool(args.project) + ["--augment"] * (args.augment is not None)
        given += ["--out"] * bool(args.out) + ["--save-project"] * bool(args.save_project)
        option = "--resume" if args.resume else "--continue"
        if given:
            print(f"tlstudio train: {option} goes on with the run's own settings and folder; drop "
                  f"{', '.join(given)}.", file=sys.stderr)
            return 2
        if args.continue_run and not args.epochs:
            print("tlstudio train: --continue needs --epochs N, the number of epochs to add.", file=sys.stderr)
            return 2
    else:
        try:
            project = resolve_project(args)
        except ProjectError as error:
            print(f"tlstudio train: {error}", file=sys.stderr)
            return 2
        if args.save_project:
            project.save(args.save_project)
            print(f"wrote the resolved project to {args.save_project}")
        reason = training_blocker(project)
        if reason:
            print(f"tlstudio train: {reason}", file=sys.stderr)
            return 2
    token = StopToken()
    observer = ConsoleProgress(quiet=args.quiet)

    def stop_gracefully(signum, frame):
        # The first Ctrl+C is the Stop button: finish the batch, keep the best model, write the run.
        if token.stop_requested:
            raise KeyboardInterrupt
        token.request_stop()
        observer.close_line()
        print("stopping after this batch; the run folder is kept (Ctrl+C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, stop_gracefully)
    try:
        if going_on:
            result = Trainer().resume(going_on, observer, token, more_epochs=args.epochs if args.continue_run else 0)
        else:
            result = Trainer().run(project, observer, token, run_dir=args.out)
    except KeyboardInterrupt:
        observer.close_line()
        print("tlstudio train: aborted.", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    observer.close_line()
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
        code = _calibrate_folder(result.run_dir, as_json=False, quiet=args.quiet)
        if code:
            return code
    return 0 if result.status is RunStatus.FINISHED else 3


class _ToolFailed(Exception):
    """A tool's failure, with the exit code and the message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _run_tool(command: str, work, errors: tuple[type[Exception], ...], task: TaskState | None = None,
              stopped: str = "stopped."):
    """Run `work(task)` (a StopToken unless `task` is given) with Ctrl+C as its stop; a known error or a stop
    becomes one line and an exit code (raised as _ToolFailed). lr-find, race, health and calibrate share this."""
    from tlstudio.tasks import Cancelled

    task = task if task is not None else StopToken()
    previous = signal.signal(signal.SIGINT, lambda *_: task.cancel())
    try:
        return work(task)
    except errors as error:
        print(f"tlstudio {command}: {error}", file=sys.stderr)
        raise _ToolFailed(1) from None
    except Cancelled:
        print(f"tlstudio {command}: {stopped}", file=sys.stderr)
        raise _ToolFailed(130) from None
    finally:
        signal.signal(signal.SIGINT, previous)


def _trainable_project(args, command: str) -> Project:
    """The project of the flags, ready to train; _ToolFailed(2) after one line otherwise."""
    try:
        project = resolve_project(args)
    except ProjectError as error:
        print(f"tlstudio {command}: {error}", file=sys.stderr)
        raise _ToolFailed(2) from None
    reason = training_blocker(project)
    if reason:
        print(f"tlstudio {command}: {reason}", file=sys.stderr)
        raise _ToolFailed(2)
    return project


def _lr_find(args) -> int:
    from tlstudio.train.lr_finder import LRFinderError, find_learning_rate

    try:
        project = _trainable_project(args, "lr-find")
        result = _run_tool("lr-find", lambda token: find_learning_rate(
            project, ConsoleProgress(quiet=args.json), token, start_lr=args.start_lr, end_lr=args.end_lr,
            steps=args.steps), (LRFinderError,))
    except _ToolFailed as failed:
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


def _race(args) -> int:
    from tlstudio.train.race import RaceError, entrants_for, run_race

    class Lines(Observer):
        def on_log(self, message: str) -> None:
            if message.startswith("race:") and not args.json:
                text = message[len("race: "):]
                print(text[:1].upper() + text[1:], file=sys.stderr, flush=True)

    try:
        project = _trainable_project(args, "race")
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
        result = _run_tool("race", lambda token: run_race(project, entrants, observer=Lines(), stop_token=token),
                           (RaceError,))
    except _ToolFailed as failed:
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


def _ensemble(args) -> int:
    from tlstudio.ensemble import EnsembleError, make_ensemble

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


def _health(args) -> int:
    from tlstudio.dataset_health import HealthError, check_health

    try:
        project = Project.load(args.project) if args.project else Project()
        changes = {"data.folder": str(args.data.expanduser().resolve())}
        if args.backbone:
            changes["model.backbone"] = args.backbone
        project = project.copy_with(**changes)
    except ProjectError as error:
        print(f"tlstudio health: {error}", file=sys.stderr)
        return 2
    try:
        report = _run_tool("health", lambda task: check_health(project, task=task), (HealthError,),
                           TaskState() if args.json else ConsoleTask())
    except _ToolFailed as failed:
        return failed.code
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_report(args.top))
    return 0


def _calibrate(args) -> int:
    return _calibrate_folder(args.run_dir, as_json=args.json, quiet=args.json)


def _calibrate_folder(run_dir: Path, *, as_json: bool, quiet: bool) -> int:
    from tlstudio.calibration import CalibrationError, calibrate_run

    try:
        result = _run_tool("calibrate", lambda task: calibrate_run(run_dir, task=task), (CalibrationError,),
                           TaskState() if quiet else ConsoleTask(), stopped="stopped; the run is unchanged.")
    except _ToolFailed as failed:
        return failed.code
    if as_json:
        print(json.dumps(result.to_dict()))
    else:
        print(f"calibrated: {result.summary()}")
        print(f"wrote {result.run_dir / MODEL_FILE} (the model as it was: model.uncalibrated.keras) and metrics.json")
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


def _export(args) -> int:

    try:
        formats = parse_formats(args.format)
    except ValueError as error:
        print(f"tlstudio export: --format {args.format}: {error}.", file=sys.stderr)
        return 2

    try:
        report = export_run(args.run_dir, formats, args.out, args.quantize,
                            task=TaskState() if args.quiet else ConsoleTask())
    except ExportError as error:
        print(f"tlstudio export: {error}", file=sys.stderr)
        return 1
    print(report.format_table())
    print(f"verified on {report.verified_on}")
    if report.card:
        from tlstudio.export.model_card import calibration_line

        print(calibration_line(report.card))
    failed = [r for r in report.results if not r.ok]
    for result in failed:
        print(f"{result.label} FAILED: {result.reason}", file=sys.stderr)
    print(f"wrote {len(report.results) - len(failed)} format(s), labels.txt and model_card.md/.json to "
          f"{report.out_dir}")
    return 1 if failed else 0


def _predict(args) -> int:

    if args.top < 1:
        print("tlstudio predict: --top must be 1 or more.", file=sys.stderr)
        return 2
    model_path = args.model
    if model_path.is_dir() and (model_path / MODEL_FILE).is_file() and is_run_folder(model_path):
        model_path = model_path / MODEL_FILE  # a run folder: its model
    try:
        predictor = load_predictor(model_path)
    except PredictorError as error:
        print(f"tlstudio predict: {error}", file=sys.stderr)
        return 1
    for warning in predictor.info.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    paths = [path for target in args.images for path in image_files(target)]
    results = predictor.predict_paths(paths, top=args.top)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for entry in results:
            if "error" in entry:
                print(f"{entry['image']}: error: {entry['error']}")
            else:
                shown = ", ".join(f"{t['label']} {t['probability']:.1%}" for t in entry["top"])
                print(f"{entry['image']}: {shown}")
    return 1 if any("error" in entry for entry in results) or not results else 0


def _version() -> str:
    try:
        return version("tlstudio")
    except Exception:  # not installed, running from a checkout
        return "dev"


class ConsoleTask(TaskState):
    """A long task's steps as lines on stderr: `[step/total] what runs now`."""

    def message(self, text: str) -> None:
        super().message(text)
        self._pending = text

    def progress(self, done: int, total: int) -> None:
        super().progress(done, total)
        text = getattr(self, "_pending", None)
        if text is not None:
            print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)
            self._pending = None


class ConsoleProgress(Observer):
    """A per-epoch progress bar on stderr with ETA and images/second; epoch summaries on stdout."""

    def __init__(self, quiet: bool = False, stream=None) -> None:
        self.stream = stream or sys.stderr
        # A bar redrawn with carriage returns is for a terminal; a log file gets the epoch lines only.
        self.quiet = quiet or not getattr(self.stream, "isatty", lambda: False)()
        self._last_draw = 0.0
        self._open_line = False

    def on_prepare(self, event) -> None:
        if self.quiet or not event.total:
            return
        self._draw(f"{event.stage}: {event.done}/{event.total}", force=event.done == event.total)

    def on_train_begin(self, event) -> None:
        self.close_line()
        print(f"training {event.backbone} at {event.image_size} px on {event.device}: "
              f"{event.train_images} training / {event.val_images} validation images, "
              f"{len(event.classes)} classes, {event.epochs} epochs x {event.steps_per_epoch} steps")
        print(f"run folder: {event.run_dir}")

    def on_phase_begin(self, event) -> None:
        self.close_line()
        print(f"phase {event.phase} from epoch {event.first_epoch}: {event.description} "
              f"(LR {event.learning_rate:g}, {event.trainable_parameters:,} trainable parameters)")
        print(f"feature cache {'in use' if event.feature_cache else 'not used'}: {event.feature_cache_note}")

    def on_train_batch_end(self, event) -> None:
        if self.quiet:
            return
        width = 24
        filled = int(width * event.batch / max(event.steps_in_epoch, 1))
        bar = "=" * filled + ">" * (filled < width) + " " * (width - filled - 1)
        self._draw(f"epoch {event.epoch} [{bar[:width]}] {event.batch}/{event.steps_in_epoch} "
                   f"loss {event.loss:.4f} lr {event.learning_rate:.2e} "
                   f"{event.images_per_second:.0f} img/s ETA {_duration(event.eta_seconds)}",
                   force=event.batch == event.steps_in_epoch)

    def on_epoch_end(self, event) -> None:
        self.close_line()
        best = " *best*" if event.is_best else ""
        print(f"epoch {event.epoch}/{event.epochs}: loss {event.loss:.4f} acc {event.accuracy:.3f} "
              f"val_loss {event.val_loss:.4f} val_acc {event.val_accuracy:.3f} lr {event.learning_rate:.2e} "
              f"({event.seconds:.1f} s, {event.images_per_second:.0f} img/s){best}", flush=True)

    def on_train_end(self, event) -> None:
        self.close_line()

    def on_log(self, message: str) -> None:
        if message.startswith(("warning:", "feature cache:", "strategy ")) or "NaN" in message:
            self.close_line()
            print(message, file=self.stream)

    def _draw(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        columns = _terminal_width()
        self.stream.write("\r" + text[: columns - 1].ljust(min(columns - 1, len(text) + 8)))
        self.stream.flush()
        self._open_line = True

    def close_line(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False


def _terminal_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 120


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

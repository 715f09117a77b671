"""The flags that write into the project: `tlstudio train`, `lr-find` and `race` share them."""

from __future__ import annotations

import argparse
from pathlib import Path

from tlstudio.backbones.registry import BACKBONE_NAMES, OFFLINE_BACKBONES, get_backbone
from tlstudio.settings.project import (
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


def choices(names) -> str:
    """Names for a help text: "a, b, c"."""
    return ", ".join(names)


def comma_list(text: str) -> list[str]:
    """A flag's "a,b, c" as ["a", "b", "c"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def add_project_flags(command: argparse.ArgumentParser) -> None:
    """The flags that write into the project (FLAG_FIELDS), for train, lr-find and race."""
    g = command.add_argument_group("data")
    g.add_argument("--data", help="folder of class sub-folders (or train/ and val/)")
    g.add_argument("--val-split", type=float, help="share of each class held out (0-1)")
    g.add_argument("--resize", choices=RESIZE_POLICIES, help=choices(RESIZE_POLICIES))
    g = command.add_argument_group("model")
    offline = ", ".join(f"{name}: {get_backbone(name).weights_origin}" for name in OFFLINE_BACKBONES)
    g.add_argument("--backbone", choices=BACKBONE_NAMES, metavar="NAME",
                   help=f"{choices(BACKBONE_NAMES)}; default: MobileNetV2 when Keras has its ImageNet weights "
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
    g.add_argument("--optimizer", choices=OPTIMIZER_NAMES, metavar="NAME", help=choices(OPTIMIZER_NAMES))
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--momentum", type=float, help="momentum (rho) for momentum / nesterov")
    g.add_argument("--weight-decay", type=float, help="AdamW's weight decay")
    g.add_argument("--ema", type=float, nargs="?", const=0.99, metavar="DECAY",
                   help="Polyak averaging: validate and save an exponential moving average of the weights "
                        "(decay 0.99 when not given)")
    g.add_argument("--schedule", choices=SCHEDULE_NAMES, metavar="NAME", help=choices(SCHEDULE_NAMES))
    g.add_argument("--warmup-epochs", type=float)
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--early-stopping", type=int, metavar="PATIENCE", help="epochs without improvement; 0 off")
    g.add_argument("--augment", help=f"comma list of: {choices(AUGMENTATION_NAMES)} (or none)")
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
    g.add_argument("--devices", type=comma_list, metavar="LIST",
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

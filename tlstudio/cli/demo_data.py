"""`tlstudio demo-data FOLDER`: a synthetic shapes dataset to play with."""

from __future__ import annotations

import sys
from pathlib import Path

from tlstudio.data.demo import DEMO_IMAGE_SIZE, DEMO_PER_CLASS, make_demo_dataset

NAME = "demo-data"


def add_parser(sub) -> None:
    command = sub.add_parser("demo-data", help="write a synthetic shapes dataset to play with")
    command.add_argument("folder", type=Path)
    command.add_argument("--per-class", type=int, default=DEMO_PER_CLASS,
                      help=f"images per class (default {DEMO_PER_CLASS})")
    command.add_argument("--size", type=int, default=DEMO_IMAGE_SIZE,
                      help=f"image size in pixels (default {DEMO_IMAGE_SIZE})")
    command.add_argument("--seed", type=int, default=0)


def run(args) -> int:

    if args.per_class < 2 or args.size < 16:
        print("tlstudio demo-data: --per-class must be at least 2 and --size at least 16.", file=sys.stderr)
        return 2
    folder = make_demo_dataset(args.folder, per_class=args.per_class, size=args.size, seed=args.seed)
    print(f"wrote a demo dataset to {folder}")
    print(f"train on it: tlstudio train --data {folder}")
    return 0

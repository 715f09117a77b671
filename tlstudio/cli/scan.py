"""`tlstudio scan FOLDER`: what a dataset folder holds, what it skips and why."""

from __future__ import annotations

import json
from pathlib import Path

from tlstudio.cli.options import flag_help
from tlstudio.data import scan
from tlstudio.settings.project import describe

NAME = "scan"


def add_parser(sub) -> None:
    command = sub.add_parser("scan", help="report what a dataset folder holds, skips and why")
    command.add_argument("folder", type=Path)
    command.add_argument("--json", action="store_true", help="print the report as JSON")
    largest = describe("data.max_megapixels")
    command.add_argument("--max-megapixels", type=float, default=largest.default, help=flag_help(largest))


def run(args) -> int:
    index = scan(args.folder, max_megapixels=args.max_megapixels)
    if args.json:
        print(json.dumps(index.to_report_dict(), indent=2))
    else:
        print(index.format_report())
    return 0 if index.ok else 1

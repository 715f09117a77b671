"""`tlstudio export RUN --out DIR`: the four formats, each verified."""

from __future__ import annotations

import sys
from pathlib import Path

from tlstudio.base.tasks import TaskState
from tlstudio.cli.console import ConsoleTask
from tlstudio.cli.options import choices
from tlstudio.export import QUANTIZATIONS, ExportError, export_run, parse_formats
from tlstudio.predict.formats import FORMATS

NAME = "export"


def add_parser(sub) -> None:
    command = sub.add_parser("export", help="export a run's model (.keras, SavedModel, TFLite, ONNX), verified")
    command.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder made by train")
    command.add_argument("--format", default=",".join(FORMATS),
                        help=f"comma list of: {choices(FORMATS)} (default: all)")
    command.add_argument("--quantize", choices=QUANTIZATIONS, default="none",
                        help=f"TFLite precision: {choices(QUANTIZATIONS)} (default none)")
    command.add_argument("--out", type=Path, required=True, help="the folder to write the exported files to")
    command.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args) -> int:

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

"""`tlstudio health DATA`: duplicates, split leaks, likely label mistakes and outliers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.backbones.registry import BACKBONE_NAMES
from tlstudio.base.tasks import TaskState
from tlstudio.cli.console import ConsoleTask, ToolFailed, run_tool
from tlstudio.settings.project import Project, ProjectError
from tlstudio.settings.rules import backbone_changes

NAME = "health"


def add_parser(sub) -> None:
    command = sub.add_parser("health", help="dataset health: duplicates, split leaks, likely label mistakes, outliers")
    command.add_argument("data", type=Path, metavar="DATA", help="a folder of class sub-folders (or train/ and val/)")
    command.add_argument("--project", type=Path, metavar="FILE",
                        help="a project .json whose split, exclusions and image input to use")
    command.add_argument("--backbone", choices=BACKBONE_NAMES, metavar="NAME",
                        help="the frozen pretrained backbone whose features judge the images (default: the project's)")
    command.add_argument("--top", type=int, default=10, help="entries shown per finding (default 10)")
    command.add_argument("--json", action="store_true",
                        help='print {"duplicates": [...], "suspected_mislabeled": [...], "outliers": [...], ...}')


def run(args) -> int:
    from tlstudio.tools.dataset_health import HealthError, check_health

    try:
        project = Project.load(args.project) if args.project else Project()
        changes = {"data.folder": str(args.data.expanduser().resolve())}
        if args.backbone:
            changes.update(backbone_changes(project, args.backbone))
        project = project.copy_with(**changes)
    except ProjectError as error:
        print(f"tlstudio health: {error}", file=sys.stderr)
        return 2
    try:
        report = run_tool("health", lambda task: check_health(project, task=task), (HealthError,),
                           TaskState() if args.json else ConsoleTask())
    except ToolFailed as failed:
        return failed.code
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format_report(args.top))
    return 0

"""`tlstudio predict MODEL IMAGE...`: any exported model (or a run's) on images."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tlstudio.predict.formats import file_formats_text
from tlstudio.predict.predictor import PredictorError, image_files, load_predictor
from tlstudio.runs.folder import MODEL_FILE, is_run_folder

NAME = "predict"


def add_parser(sub) -> None:
    command = sub.add_parser("predict", help="run an exported model (any format) on images")
    command.add_argument("model", type=Path, metavar="MODEL_PATH",
                         help=f"{file_formats_text()}, or a run folder")
    command.add_argument("images", nargs="+", type=Path, metavar="IMAGE_OR_FOLDER")
    command.add_argument("--top", type=int, default=3, help="how many classes to show per image (default 3)")
    command.add_argument("--json", action="store_true", help="print a JSON list, one entry per image")


def run(args) -> int:

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

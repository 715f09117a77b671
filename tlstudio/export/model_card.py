"""The model card (model_card.json and model_card.md), the input facts it and the ONNX metadata
share, the library versions it records, and writing labels.txt and the card into the staging folder."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tlstudio.backbones.registry import get_backbone
from tlstudio.export.results import DestinationError, FormatResult, artefact_name, percent, size_text
from tlstudio.predict.predictor import CARD_FILE, LABELS_FILE, SAVEDMODEL_EXTRA
from tlstudio.settings.project import Project

CARD_MARKDOWN = "model_card.md"


def input_facts(project: Project) -> dict[str, Any]:
    """What the exported model takes: size, layout, colour, range and the resize policy."""
    return {**project.image_input.facts(),
            "note": "raw RGB 0-255: the backbone's preprocessing is inside the model; int8 TFLite takes uint8 "
                    "pixels directly"}


def earlier_results(out_dir: Path, run_dir: Path, labels: set[str]) -> list[dict[str, Any]]:
    """Verified formats of an earlier export of the same run into ``out_dir`` that this one keeps
    (e.g. model.tflite beside a new model_int8.tflite), so the card describes every file there."""
    try:
        card = json.loads((out_dir / CARD_FILE).read_text(encoding="utf-8"))
        if card.get("run_dir") != str(run_dir):
            return []
        earlier = card["verification"]["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [r for r in earlier if isinstance(r, dict) and r.get("ok") and r.get("path")
            and _result_label(r) not in labels and (out_dir / r["path"]).exists()]


def _result_label(result: dict[str, Any]) -> str:
    quantize = result.get("quantize", "none")
    return f"{result['format']} ({quantize})" if quantize != "none" else result["format"]


def model_card(run, project: Project, results: list[FormatResult], verified_on: str,
               earlier: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """The facts the model card holds (model_card.json; model_card.md renders the same)."""
    spec = get_backbone(project.model.backbone)
    entries = [*earlier, *(_card_result(r) for r in results)]
    return {
        "card_version": 1,
        "name": project.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "classes": list(run.classes),
        "input": input_facts(project),
        "output": {"name": "probabilities", "shape": [None, len(run.classes)],
                   "meaning": "softmax probabilities in labels.txt order"},
        "backbone": {"name": spec.name, "label": spec.label, "weights": project.model.weights},
        "files": {_result_label(r): r["path"] for r in entries if r["ok"]},
        "verification": {"images": verified_on, "results": entries},
        "validation_metrics": run.metrics or {},
        "calibration": calibration_facts(run.metrics or {}),
        "training": project.to_dict(),
        "run_dir": str(run.run_dir),
        "versions": library_versions(),
    }


def calibration_facts(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """Temperature and ECE before/after of a run calibrated by `tlstudio calibrate`; None when it was not."""
    if metrics.get("temperature") is None:
        return None
    return {"method": "temperature scaling", "temperature": metrics["temperature"],
            "ece_before": metrics.get("ece_before"), "ece_after": metrics.get("ece_after")}


def calibration_line(card: dict[str, Any]) -> str:
    """One sentence on the calibration of the exported probabilities, for the card and the CLI."""
    facts = card.get("calibration")
    if not facts:
        ece = (card.get("validation_metrics") or {}).get("val_ece")
        measured = f" (expected calibration error on validation {ece:.2%})" if ece is not None else ""
        return f"Not calibrated{measured}; `tlstudio calibrate RUN` fits a temperature on the validation split."
    verified = [r for r in card["verification"]["results"] if r.get("calibrated")]
    formats = ", ".join(_result_label(r) for r in verified) or "no format"
    return (f"Calibrated by temperature scaling (T = {facts['temperature']:.3g}): expected calibration error on "
            f"validation {facts['ece_before']:.2%} before, {facts['ece_after']:.2%} after; verified to give the "
            f"calibrated probabilities: {formats}.")


def _card_result(result: FormatResult) -> dict[str, Any]:
    data = result.to_dict()
    data["path"] = result.path.name if result.path else None
    return data


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("tlstudio", "tensorflow", "keras", "numpy", "pillow", "tf2onnx", "onnx", "onnxruntime",
                 "ai-edge-litert"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def card_markdown(card: dict[str, Any]) -> str:
    """model_card.md: the same facts as model_card.json, for people."""
    model_input = card["input"]
    metrics = card.get("validation_metrics") or {}
    lines = [
        f"# Model card: {card['name']}", "",
        f"Exported {card['created']} by TL Studio from `{card['run_dir']}`.", "",
        "## Classes", "", *[f"{i}. {name}" for i, name in enumerate(card["classes"])], "",
        "## Input", "",
        f"- {model_input['image_size']}×{model_input['image_size']} RGB, float32, NHWC, raw values 0–255 "
        "(the backbone's preprocessing is inside the model; int8 TFLite takes uint8 pixels).",
        f"- Resize policy: **{model_input['resize']}** ({model_input['resample']}), EXIF orientation applied, "
        f"transparency on {tuple(model_input['alpha_background'])}, padding colour "
        f"{tuple(model_input['pad_color'])}.",
        "- Output: softmax probabilities in the order of labels.txt.", "",
        "## Model", "",
        f"- Backbone: {card['backbone']['label']} (`{card['backbone']['name']}`), starting weights: "
        f"{card['backbone']['weights']}.", "",
        "## Validation metrics", "",
    ]
    for key in sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)):
        lines.append(f"- {key}: {metrics[key]:.4g}")
    per_class = metrics.get("per_class") or {}
    if per_class:
        lines += ["", "| class | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |"
                  for name, m in per_class.items()]
    lines += ["", "## Calibration", "", calibration_line(card)]
    lines += ["", "## Verification", "", f"On {card['verification']['images']}; each file reloaded in its "
              "own runtime and run twice.", "",
              "| format | file | verified | top-1 agreement | max abs diff | ECE | size | ms/image | runtime |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in card["verification"]["results"]:
        verdict = "yes" if r["ok"] else f"FAILED: {r['reason']}"
        diff = f"{r['max_abs_diff']:.2g}" if r["max_abs_diff"] is not None else "-"
        latency = f"{r['latency_ms']:.2f}" if r["latency_ms"] is not None else "-"
        ece = f"{r['ece']:.2%}" if r.get("ece") is not None else "-"
        lines.append(f"| {_result_label(r)} | {r['path'] or '-'} | {verdict} | {percent(r['top1_agreement'])} "
                     f"| {diff} | {ece} | {size_text(r['size_bytes'])} | {latency} | {r['engine'] or '-'} |")
    lines += ["", "## Training configuration", "", "```json", json.dumps(card["training"], indent=2), "```", "",
              "## Library versions", "", *[f"- {k}: {v}" for k, v in card["versions"].items()], ""]
    return "\n".join(lines)


def write_beside(staging_dir: Path, classes: list[str], card: dict[str, Any], savedmodels: list) -> None:
    """labels.txt and the card into the staging folder (atomic by the final rename, so plain writes)."""
    labels = "".join(f"{name}\n" for name in classes)
    card_json = json.dumps(card, indent=2) + "\n"
    targets = [staging_dir]
    # A SavedModel folder copied alone still carries its labels and preprocessing.
    targets += [staging_dir / artefact_name("savedmodel") / SAVEDMODEL_EXTRA for _ in savedmodels]
    try:
        for folder in targets:
            folder.mkdir(exist_ok=True)
            (folder / LABELS_FILE).write_text(labels, encoding="utf-8")
            (folder / CARD_FILE).write_text(card_json, encoding="utf-8")
        (staging_dir / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")
    except OSError as error:
        raise DestinationError(error) from None

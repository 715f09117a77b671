"""What an export reports: the formats and precisions on offer, artefact file names, one result per
format, progress steps, the whole report with its verification table, and the export's errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tlstudio.base.text import format_bytes, format_percent
from tlstudio.predict.formats import FORMATS, MODEL_FORMATS

QUANTIZATIONS: tuple[str, ...] = ("none", "float16", "dynamic", "int8")


class ExportError(RuntimeError):
    """The export cannot be written or started; the message is one sentence naming the folder or file."""


class DestinationError(Exception):
    """Writing into the staging folder failed for a reason of the destination (full, read-only);
    the export turns it into an ExportError."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class FormatResult:
    """One exported format and how its verification went; ``ok`` False means it was not exported."""

    format: str
    path: Path | None
    ok: bool
    reason: str = ""
    top1_agreement: float | None = None
    max_abs_diff: float | None = None
    size_bytes: int | None = None
    latency_ms: float | None = None
    quantize: str = "none"
    images: int = 0
    deterministic: bool | None = None
    engine: str = ""
    # On the validation images (when readable): the format's own expected calibration error, and whether it
    # gives the calibrated probabilities of a run calibrated by temperature scaling (None: not calibrated).
    ece: float | None = None
    calibrated: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.format} ({self.quantize})" if self.quantize != "none" else self.format

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


@dataclass
class ExportReport:
    out_dir: Path
    results: list[FormatResult]
    verified_on: str
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.results) and all(r.ok for r in self.results)

    def format_table(self) -> str:
        """The verification table the CLI prints and the GUI can show in a monospace font."""
        head = ("format", "ok", "top-1 agree", "max |Δp|", "ECE", "size", "ms/image", "file")
        rows = [head]
        for r in self.results:
            rows.append((r.label, "yes" if r.ok else "FAILED", percent(r.top1_agreement),
                         f"{r.max_abs_diff:.2g}" if r.max_abs_diff is not None else "-",
                         format_percent(r.ece, missing="-"), size_text(r.size_bytes),
                         f"{r.latency_ms:.2f}" if r.latency_ms is not None else "-",
                         r.path.name if r.path else r.reason))
        widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
                         for row in rows)


def parse_formats(text: str) -> list[str]:
    """``"keras,onnx"`` (or ``"all"``) -> validated list; ValueError naming the choices."""
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return list(FORMATS)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMATS)} (or all)" if unknown
                         else f"no format given; choose from {', '.join(FORMATS)} (or all)")
    return list(dict.fromkeys(names))


def artefact_name(fmt: str, quantize: str = "none") -> str:
    """The file (or folder) name of a format inside the export folder (predict/formats.py)."""
    return MODEL_FORMATS[fmt].artefact_name(quantize)


def percent(value: float | None) -> str:
    """A top-1 agreement for the plain-text tables ("-" when not measured)."""
    return format_percent(value, missing="-")


def size_text(size: int | None) -> str:
    """A file size for the plain-text tables ("-" when not measured)."""
    return format_bytes(size) if size is not None else "-"

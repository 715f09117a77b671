"""What a scan found: a ``DatasetIndex`` of classes, usable images (``ImageItem``), unusable ones
(``SkippedFile``) with their reasons, ignored entries by kind, warnings and blocking errors, and its report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tlstudio.data.folder_walk import SPLIT_ORDER


@dataclass(frozen=True)
class ImageItem:
    """One usable image: its file, its class (index into ``DatasetIndex.classes``), its given split."""

    path: Path
    label: int
    split: str | None = None


@dataclass(frozen=True)
class SkippedFile:
    """An image file that cannot be used, with the short reason shown to the user."""

    path: Path
    reason: str


@dataclass
class DatasetIndex:
    """What a scan found. ``ok`` is False while ``errors`` lists something that blocks training."""

    root: Path
    classes: list[str] = field(default_factory=list)
    items: list[ImageItem] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    ignored: int = 0
    ignored_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    split_mode: str = "auto"
    # With `scan(decode=...)`: the files this scan decoded, as model inputs (not those whose check was
    # remembered from an earlier scan), so training need not decode them a second time.
    decoded: dict[Path, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing blocks training."""
        return not self.errors

    @property
    def counts(self) -> dict[str, int]:
        """Usable images per class, all splits together, in class order."""
        counts = dict.fromkeys(self.classes, 0)
        for item in self.items:
            counts[self.classes[item.label]] += 1
        return counts

    def counts_by_split(self) -> dict[str, dict[str, int]]:
        """Usable images per split and class (a single ``"all"`` split in auto mode)."""
        result: dict[str, dict[str, int]] = {}
        for item in self.items:
            per_class = result.setdefault(item.split or "all", dict.fromkeys(self.classes, 0))
            per_class[self.classes[item.label]] += 1
        return {split: result[split] for split in (*SPLIT_ORDER, "all") if split in result}

    def to_report_dict(self) -> dict:
        """The scan result as plain JSON-ready data (for ``tlstudio scan --json`` and the GUI)."""
        return {
            "classes": list(self.classes),
            "counts": self.counts,
            "images": len(self.items),
            "skipped": [{"path": str(s.path), "reason": s.reason} for s in self.skipped],
            "ignored": self.ignored,
            "ignored_by_reason": dict(self.ignored_by_reason),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "split_mode": self.split_mode,
        }

    def format_report(self) -> str:
        """A readable multi-line report: classes with counts and shares, skipped, ignored, problems."""
        lines = [f"Dataset: {self.root}"]
        if self.split_mode == "given":
            lines.append("Split: given by the train/ and val/ folders")
        else:
            lines.append("Split: automatic (a share of each class is held out for validation)")
        counts = self.counts
        total = len(self.items)
        lines.append(f"{len(self.classes)} classes, {total} usable images")
        if self.classes:
            width = max(len(name) for name in self.classes)
            by_split = self.counts_by_split() if self.split_mode == "given" else {}
            for name, n in counts.items():
                share = 100.0 * n / total if total else 0.0
                line = f"  {name:<{width}}  {n:>6}  {share:5.1f}%"
                if by_split:
                    line += "  (" + ", ".join(f"{split} {per[name]}" for split, per in by_split.items()) + ")"
                lines.append(line)
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped)} unusable image files:")
            lines.extend(f"  {relative_path(s.path, self.root)}: {s.reason}" for s in self.skipped)
        if self.ignored:
            kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(self.ignored_by_reason.items()))
            lines.append(f"Ignored {self.ignored} entries ({kinds})")
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {warning}" for warning in self.warnings)
        if self.errors:
            lines.append("Errors (fix these before training):")
            lines.extend(f"  - {error}" for error in self.errors)
        else:
            lines.append("Ready to train.")
        return "\n".join(lines)


def relative_path(path: Path, root: Path) -> str:
    """`path` as shown in messages: relative to the dataset folder when it lies inside it."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)

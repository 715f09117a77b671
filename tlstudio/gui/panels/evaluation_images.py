"""The Evaluate page's images: those of the chosen confusion-matrix cell, and the biggest mistakes, as
thumbnail galleries (decoded off the GUI thread by the page's ThumbnailCache). Which images and in what
order is the core's (`SplitEvaluation.cell`, `.mistakes`); these panels caption and show them.
"""

from __future__ import annotations

from PySide6.QtWidgets import QGroupBox, QVBoxLayout, QWidget

from tlstudio.gui.widgets.common import hint_label
from tlstudio.gui.widgets.gallery import GalleryEntry, ImageGallery
from tlstudio.gui.widgets.thumbnails import ThumbnailCache
from tlstudio.tools.evaluate import LOW_CONFIDENCE, ImageRecord, SplitEvaluation

LOW_PERCENT = f"{LOW_CONFIDENCE * 100:g} %"  # the evaluation's threshold for a right but unsure answer
MISTAKES_SHOWN = 100
CELL_IMAGES_SHOWN = 300
NO_CELL = "Click a cell of the confusion matrix to see its images here."


def top_text(record: ImageRecord, classes: list[str], k: int = 3) -> str:
    """'square 71% · circle 20% · star 9%'."""
    return " · ".join(f"{entry['label']} {entry['probability']:.0%}" for entry in record.top(classes, k))


def mistake_entry(record: ImageRecord, classes: list[str]) -> GalleryEntry:
    true, predicted = classes[record.true], classes[record.predicted]
    verdict = f"{true}, right but unsure" if record.correct else f"true {true} · predicted {predicted}"
    caption = f"{verdict}\n{top_text(record, classes)}\nloss {record.loss:.2f} · {record.path.name}"
    return GalleryEntry(record.path, caption, f"{record.path}\nDouble-click to open its folder.")


def cell_entry(record: ImageRecord, classes: list[str]) -> GalleryEntry:
    tooltip = f"{record.path}\n{top_text(record, classes)}\nDouble-click to open its folder."
    return GalleryEntry(record.path, f"{record.confidence:.0%}", tooltip)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' if count != 1 else ''}"


class CellImagesBox(QGroupBox):
    """The images of one true/predicted pair, the most confident first."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__("Images of the chosen cell", parent)
        layout = QVBoxLayout(self)
        self.cell_caption = hint_label(NO_CELL)
        self.cell_caption.setObjectName("evaluateCellCaption")
        layout.addWidget(self.cell_caption)
        self.cell_gallery = ImageGallery(thumbnails, "evaluateCellGallery", "Images of the chosen cell",
                                         "The images of one true/predicted pair with the model's confidence. "
                                         "Double-click to open the folder.", grid=True)
        layout.addWidget(self.cell_gallery, 1)

    def clear(self) -> None:
        self.cell_gallery.set_entries([])
        self.cell_caption.setText(NO_CELL)

    def show_cell(self, split: SplitEvaluation, true: int, predicted: int) -> None:
        records = split.cell(true, predicted)
        classes = split.classes
        self.cell_gallery.set_entries([cell_entry(r, classes) for r in records[:CELL_IMAGES_SHOWN]])
        what = (f"<b>{classes[true]}</b>, predicted right" if true == predicted
                else f"true <b>{classes[true]}</b>, predicted <b>{classes[predicted]}</b>")
        count = len(records)
        more = f" (the first {CELL_IMAGES_SHOWN} shown)" if count > CELL_IMAGES_SHOWN else ""
        self.cell_caption.setText(f"{what}: {plural(count, 'image')}{more}, with the model's confidence in what it "
                                  "said, the most confident first." if count else f"{what}: no images.")


class MistakesBox(QGroupBox):
    """Wrong answers, and right ones given with little confidence, the most wrong (highest loss) first."""

    def __init__(self, thumbnails: ThumbnailCache, parent: QWidget | None = None) -> None:
        super().__init__("Biggest mistakes", parent)
        layout = QVBoxLayout(self)
        self.mistakes_caption = hint_label(f"Wrong answers, and right ones given with less than {LOW_PERCENT} "
                                           "confidence, the most wrong (highest loss) first.")
        self.mistakes_caption.setObjectName("evaluateMistakesCaption")
        layout.addWidget(self.mistakes_caption)
        self.mistakes_gallery = ImageGallery(thumbnails, "evaluateMistakesGallery", "Biggest mistakes",
                                             "Each image with its true class, the prediction and the top-3 "
                                             "probabilities. Double-click to open the folder.", grid=False)
        layout.addWidget(self.mistakes_gallery, 1)

    def show_split(self, split: SplitEvaluation | None) -> None:
        if split is None:
            self.mistakes_gallery.set_entries([])
            return
        self.mistakes_gallery.set_entries([mistake_entry(r, split.classes)
                                           for r in split.mistakes(limit=MISTAKES_SHOWN)])
        total = len(split.mistakes())
        shown = f" (the first {MISTAKES_SHOWN} shown)" if total > MISTAKES_SHOWN else ""
        self.mistakes_caption.setText(
            f"{plural(total, 'image')}: wrong answers, and right ones given with less than {LOW_PERCENT} "
            f"confidence, the most wrong (highest loss) first{shown}. Double-click one to open its folder."
            if total else f"No mistakes: every image is right with at least {LOW_PERCENT} confidence.")

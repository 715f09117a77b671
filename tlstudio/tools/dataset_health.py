"""Dataset health: duplicates, train/validation leaks, likely label mistakes, outliers and unusable-looking
images, found from the frozen pretrained features and a perceptual hash.

A duplicate that lands in both training and validation inflates the accuracy the app reports; a wrong
label teaches the wrong thing. Everything here is measured on the features of the project's frozen
pretrained backbone, computed once and kept in the feature store (so a second check costs seconds):

- duplicates: byte-identical files, and pictures whose perceptual hashes (``tlstudio.data.duplicates``)
  nearly agree and whose features confirm it (cosine similarity), as groups; flagged when a group spans
  classes (a label conflict) or both sides of the project's split (a leak);
- suspected mislabeled: out-of-fold probabilities of a logistic regression on the features (5-fold
  cross-validation), judged by confident learning (Northcutt et al. 2021): an image is suspect when
  another class's probability reaches that class's own average confidence and beats its label's; ranked
  by the margin, each with the class it looks like;
- outliers: images far from every class's mean feature (robust z-score of the cosine distance);
- low information: near-blank (almost no contrast) or very dark images.

Files the project excludes are left out; files it marks fine are not listed again as suspects or outliers.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tlstudio.backbones.weights import WeightsError
from tlstudio.base.tasks import TaskState
from tlstudio.data import DataError, scan
from tlstudio.data.cache import load_images_cached
from tlstudio.data.duplicates import NEAR_DUPLICATE_BITS, duplicate_pairs, fingerprints, group_pairs
from tlstudio.model.build import build_model
from tlstudio.settings.project import Project, ProjectError, relative_name
from tlstudio.train.features import FeatureHead, FeatureStore, compute_features

NEAR_CANDIDATE_BITS = 12  # perceptual hashes this close (and colours alike) are candidates...
NEAR_COSINE = 0.97  # ...kept when the features agree this well, or when the hashes are within NEAR_DUPLICATE_BITS
CROSS_VALIDATION_FOLDS = 5
OUTLIER_Z = 3.5  # robust z-score of the distance to the nearest class mean
DARK_MEAN = 20.0  # mean brightness (0-255) below this: very dark
BLANK_STD = 4.0  # brightness standard deviation below this: near-blank
L2_PENALTY = 1e-2


class HealthError(ValueError):
    """The health check cannot run; one sentence naming the folder or setting and the fix."""


@dataclass
class HealthReport:
    root: Path
    classes: list[str]
    class_counts: dict[str, int]
    duplicates: list[dict[str, Any]]
    suspected_mislabeled: list[dict[str, Any]]
    outliers: list[dict[str, Any]]
    low_information: list[dict[str, Any]]
    images: int
    excluded: int
    backbone: str
    seconds: float
    features_cached: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def leaks(self) -> list[dict[str, Any]]:
        return [group for group in self.duplicates if group["across_split"]]

    def to_dict(self) -> dict[str, Any]:
        return {"data": str(self.root), "images": self.images, "excluded": self.excluded, "classes": self.classes,
                "class_counts": self.class_counts, "duplicates": self.duplicates,
                "suspected_mislabeled": self.suspected_mislabeled, "outliers": self.outliers,
                "low_information": self.low_information, "backbone": self.backbone,
                "seconds": round(self.seconds, 2), "features_cached": self.features_cached}

    def format_report(self, top: int = 10) -> str:
        lines = [f"{self.images} images in {len(self.classes)} classes ({self.excluded} excluded by the project), "
                 f"features of {self.backbone}{' (cached)' if self.features_cached else ''}, {self.seconds:.1f} s",
                 "class balance: " + ", ".join(f"{name} {count}" for name, count in self.class_counts.items())]
        exact = sum(1 for g in self.duplicates if g["kind"] == "exact")
        lines.append(f"\nduplicates: {len(self.duplicates)} group(s) ({exact} exact, {len(self.duplicates) - exact} "
                     f"near), {sum(g['across_classes'] for g in self.duplicates)} across classes, "
                     f"{len(self.leaks)} across the train/validation split")
        for group in self.duplicates[:top]:
            flags = [flag for flag, on in (("ACROSS CLASSES", group["across_classes"]),
                                           ("LEAK", group["across_split"])) if on]
            lines.append(f"  {group['kind']:<5} {' = '.join(group['files'])}{'  ' + ', '.join(flags) if flags else ''}")
        lines.append(f"\nsuspected mislabeled: {len(self.suspected_mislabeled)}")
        for entry in self.suspected_mislabeled[:top]:
            lines.append(f"  {entry['file']}: labeled {entry['labeled']}, looks like {entry['looks_like']} "
                         f"(score {entry['score']:.2f})")
        lines.append(f"\noutliers: {len(self.outliers)}")
        lines += [f"  {entry['file']} (z {entry['score']:.1f}, nearest class {entry['nearest_class']})"
                  for entry in self.outliers[:top]]
        lines.append(f"\nnear-blank or very dark: {len(self.low_information)}")
        lines += [f"  {entry['file']}: {entry['reason']}" for entry in self.low_information[:top]]
        if self.leaks:
            lines.append("\nto keep every group of copies on one side of the split, set data.keep_duplicates_together "
                         "in the project (or use the Data page's Health panel)")
        return "\n".join(lines + [f"note: {note}" for note in self.notes])


def check_health(project: Project, *, task: TaskState | None = None) -> HealthReport:
    """The health of `project`'s data folder, measured with its backbone, image input and split.
    ``task`` hears the stages and may cancel (Cancelled). Raises HealthError."""
    task = task or TaskState()
    started = time.perf_counter()
    if not project.data.folder:
        raise HealthError("no data folder: give one (data.folder in the project, or the DATA argument).")
    task.message("scanning images")
    index = scan(project.data.folder, max_megapixels=project.data.max_megapixels)
    if index.errors:
        raise HealthError(index.errors[0])
    root = index.root
    excluded = set(project.data.exclude)
    items = [item for item in index.items if relative_name(item.path, root) not in excluded]
    if len(items) < 2:
        raise HealthError(f"{root} has fewer than 2 images left to check; add images or exclude fewer.")
    names = [relative_name(item.path, root) for item in items]
    labels = np.array([item.label for item in items], dtype=int)
    classes = index.classes

    task.message("hashing images")
    try:
        prints = fingerprints([item.path for item in items], max_megapixels=project.data.max_megapixels,
                              progress=lambda done, total: (task.progress(done, total), task.check()))
        task.message("decoding images")
        images, _ = load_images_cached([item.path for item in items], project.image_input,
                                       progress=lambda done, total: (task.progress(done, total), task.check()),
                                       use_cache=project.training.image_cache)
    except DataError as error:
        raise HealthError(f"cannot check {root}: {error}") from None
    features, cached = _features(project, images, len(classes), task)
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)

    task.message("looking for duplicates")
    side = _sides(project, index)
    duplicates = _duplicate_groups(prints, unit, names, labels, side)
    fine = set(project.data.marked_fine)
    task.message("cross-validating the labels")
    probabilities = _out_of_fold_probabilities(features, labels, len(classes), project.training.seed)
    suspects = [entry for entry in _suspects(probabilities, labels, classes, names) if entry["file"] not in fine]
    outliers = [entry for entry in _outliers(unit, labels, classes, names) if entry["file"] not in fine]
    low = [entry for entry in _low_information(images, names) if entry["file"] not in fine]
    counts = Counter(labels.tolist())
    notes = []
    if len(items) < 10 * len(classes):
        notes.append("few images per class: the label and outlier checks are rough below ~10 a class")
    return HealthReport(root, list(classes), {name: int(counts.get(i, 0)) for i, name in enumerate(classes)},
                        duplicates, suspects, outliers, low, len(items), len(index.items) - len(items),
                        project.model.backbone, time.perf_counter() - started, cached, notes)


def _features(project: Project, images: np.ndarray, num_classes: int, task: TaskState) -> tuple[np.ndarray, bool]:
    """Pooled features of the project's backbone (frozen, no augmentation), through the feature store."""
    store = FeatureStore()
    empty = images[:0]
    key = FeatureStore.key(project, images, empty)
    stored = store.load(key, len(images), 0)
    if stored is not None:  # no need to build the backbone at all
        return stored[0].astype(np.float64), True
    task.message("loading the backbone")
    try:
        built = build_model(project.model, max(num_classes, 2), seed=project.training.seed)
    except WeightsError as error:
        raise HealthError(str(error)) from None
    head = FeatureHead.split(built.model)
    task.message("computing features")
    train, _, cached = compute_features(head, images, empty, batch_size=project.training.batch_size, store=store,
                                        key=key, progress=lambda done, total: task.progress(done, total), task=task,
                                        runtime=project.training.feature_runtime)
    return train.astype(np.float64), cached


def _sides(project: Project, index) -> dict[str, str]:
    """Which side of the project's split each file (by its relative name) lands on: "train", "val", "test"."""
    try:
        split = project.split(index)
    except (DataError, ProjectError):
        return {}
    return {relative_name(item.path, index.root): name for name in ("train", "val", "test")
            for item in getattr(split, name)}


def _duplicate_groups(prints, unit: np.ndarray, names: list[str], labels: np.ndarray,
                      side: dict[str, str]) -> list[dict[str, Any]]:
    pairs = []
    # Measured on noisy re-encoded copies: hash 0-2 bits apart, but feature cosine as low as 0.78 (the
    # backbone sees the JPEG noise), so the hash decides and the features only add near-misses of the hash.
    for i, j, kind, bits in duplicate_pairs(prints, NEAR_CANDIDATE_BITS):
        if kind == "exact" or bits <= NEAR_DUPLICATE_BITS or float(unit[i] @ unit[j]) >= NEAR_COSINE:
            pairs.append((i, j))
    groups = []
    for members in group_pairs(len(names), pairs):
        contents = {prints[i].content for i in members}
        sides = {side.get(names[i], "") for i in members} - {""}
        similarity = min(float(unit[i] @ unit[j]) for i in members for j in members if i < j)
        groups.append({"files": [names[i] for i in members], "kind": "exact" if len(contents) == 1 else "near",
                       "across_classes": len({int(labels[i]) for i in members}) > 1,
                       "across_split": "train" in sides and len(sides) > 1,
                       "similarity": round(similarity, 4)})
    # Label conflicts and leaks first: they change what the model learns or what the app reports.
    return sorted(groups, key=lambda g: (not g["across_classes"], not g["across_split"], g["files"][0]))


def _standardized(features: np.ndarray) -> np.ndarray:
    centred = features - features.mean(axis=0)
    return centred / np.maximum(centred.std(axis=0), 1e-6)


def _fit_logistic(x: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights (d + 1, classes) of an L2-penalised multinomial logistic regression, by L-BFGS."""
    from scipy.optimize import minimize

    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    onehot = np.eye(num_classes)[y]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(d + 1, num_classes)
        z = xb @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.sum(onehot * np.log(np.clip(p, 1e-12, 1))) / n + 0.5 * L2_PENALTY * np.sum(w[:-1] ** 2)
        grad = xb.T @ (p - onehot) / n
        grad[:-1] += L2_PENALTY * w[:-1]
        return value, grad.ravel()

    found = minimize(loss, np.zeros((d + 1) * num_classes), jac=True, method="L-BFGS-B",
                     options={"maxiter": 200})
    return found.x.reshape(d + 1, num_classes)


def _out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, num_classes: int, seed: int) -> np.ndarray:
    """Each image's class probabilities from a model that did not see it (stratified k-fold)."""
    x = _standardized(features)
    rng = np.random.default_rng(seed)
    folds = np.zeros(len(labels), dtype=int)
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        folds[rng.permutation(members)] = np.arange(len(members)) % CROSS_VALIDATION_FOLDS
    probabilities = np.full((len(labels), num_classes), 1.0 / num_classes)
    for fold in range(CROSS_VALIDATION_FOLDS):
        held = folds == fold
        if not held.any() or held.all():
            continue
        w = _fit_logistic(x[~held], labels[~held], num_classes)
        z = np.hstack([x[held], np.ones((held.sum(), 1))]) @ w
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        probabilities[held] = p / p.sum(axis=1, keepdims=True)
    return probabilities


def _suspects(probabilities: np.ndarray, labels: np.ndarray, classes: list[str], names: list[str]
              ) -> list[dict[str, Any]]:
    """Confident learning's label issues, ranked by the margin of the class it looks like over its label."""
    num_classes = len(classes)
    thresholds = np.array([probabilities[labels == j, j].mean() if (labels == j).any() else 1.0
                           for j in range(num_classes)])
    found = []
    for i, label in enumerate(labels):
        confident = probabilities[i] >= thresholds
        confident[label] = False
        if not confident.any():
            continue
        looks_like = int(np.argmax(np.where(confident, probabilities[i], -1.0)))
        margin = float(probabilities[i, looks_like] - probabilities[i, label])
        if margin > 0:
            found.append({"file": names[i], "labeled": classes[label], "looks_like": classes[looks_like],
                          "score": round(margin, 4)})
    return sorted(found, key=lambda entry: -entry["score"])


def _outliers(unit: np.ndarray, labels: np.ndarray, classes: list[str], names: list[str]) -> list[dict[str, Any]]:
    means = np.stack([unit[labels == j].mean(axis=0) if (labels == j).any() else np.zeros(unit.shape[1])
                      for j in range(len(classes))])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    distance = 1.0 - unit @ means.T
    nearest = distance.min(axis=1)
    spread = 1.4826 * np.median(np.abs(nearest - np.median(nearest)))
    z = (nearest - np.median(nearest)) / max(spread, 1e-9)
    found = [{"file": names[i], "score": round(float(z[i]), 2), "nearest_class": classes[int(distance[i].argmin())]}
             for i in np.flatnonzero(z > OUTLIER_Z)]
    return sorted(found, key=lambda entry: -entry["score"])


def _low_information(images: np.ndarray, names: list[str]) -> list[dict[str, Any]]:
    grey = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    mean = grey.mean(axis=(1, 2))
    std = grey.std(axis=(1, 2))
    found = []
    for i in range(len(images)):
        if std[i] < BLANK_STD:
            found.append({"file": names[i], "reason": f"near-blank (contrast {std[i]:.1f} of 255)"})
        elif mean[i] < DARK_MEAN:
            found.append({"file": names[i], "reason": f"very dark (mean brightness {mean[i]:.0f} of 255)"})
    return found


@dataclass(frozen=True)
class Finding:
    """One file the health check points at, and why, in words: what the Health panel lists."""

    kind: str  # "duplicate", "mislabeled", "outlier", "low-information"
    file: str  # relative to the data folder
    text: str
    looks_like: str | None = None


def findings(report: HealthReport) -> list[Finding]:
    """Every flagged file once, worst first: label conflicts and leaks, suspected label mistakes, the other
    copies, outliers, then near-blank or dark images."""
    found: dict[str, Finding] = {}
    plain_copies: list[Finding] = []
    for group in report.duplicates:
        flags = ", ".join(flag for flag, on in (("in two classes", group["across_classes"]),
                                                 ("split across train and validation", group["across_split"])) if on)
        # Across classes every copy may be the wrong one; otherwise the first is the one to keep.
        for name in group["files"] if group["across_classes"] else group["files"][1:]:
            others = " = ".join(other for other in group["files"] if other != name)
            finding = Finding("duplicate", name, f"{group['kind']} copy of {others}" + (f" ({flags})" if flags else ""))
            if flags:
                found.setdefault(name, finding)
            else:
                plain_copies.append(finding)
    for entry in report.suspected_mislabeled:
        text = f"labeled {entry['labeled']}, looks like {entry['looks_like']} (score {entry['score']:.2f})"
        found.setdefault(entry["file"], Finding("mislabeled", entry["file"], text, entry["looks_like"]))
    for finding in plain_copies:
        found.setdefault(finding.file, finding)
    for entry in report.outliers:
        text = f"far from every class (z {entry['score']:.1f}, nearest: {entry['nearest_class']})"
        found.setdefault(entry["file"], Finding("outlier", entry["file"], text))
    for entry in report.low_information:
        found.setdefault(entry["file"], Finding("low-information", entry["file"], entry["reason"]))
    return list(found.values())


def move_to_class(root: str | Path, name: str, class_name: str) -> str:
    """Move the data file `name` (relative to `root`) into the class folder `class_name` beside it (same split
    folder, if any), keeping its file name unless one is there already. Returns its new relative name; the
    file is moved, never copied over another. Raises HealthError naming the file."""
    root = Path(root)
    source = root / name
    parts = Path(name).parts
    split_prefix = parts[:1] if len(parts) > 2 and parts[0].lower() in {"train", "val", "validation", "test"} else ()
    folder = root.joinpath(*split_prefix, class_name)
    target = folder / source.name
    counter = 1
    while target.exists():
        target = folder / f"{source.stem} ({counter}){source.suffix}"
        counter += 1
    try:
        folder.mkdir(parents=True, exist_ok=True)
        source.rename(target)
    except OSError as error:
        raise HealthError(f"{source} cannot be moved to {folder} ({error.strerror}); move it by hand.") from None
    return relative_name(target, root)

"""Dataset health on a held-out set with planted near-duplicates, a cross-class exact duplicate and moved
(mislabeled) images; the project's exclude list and keep-duplicates-together setting in the split."""

import json
import shutil

import pytest
from PIL import Image

from tlstudio.data import scan
from tlstudio.data.demo import make_demo_dataset
from tlstudio.data.duplicates import duplicate_groups
from tlstudio.settings.project import Project

# The offline pretrained SqueezeNet at 96 px: real features, a few seconds on 2 cores.
HEALTH_MODEL = {"model.backbone": "squeezenet1_1", "model.weights": "imagenet", "model.image_size": 96,
                "training.image_cache": False}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """30 shapes a class, plus: three near-duplicates (resized + re-encoded, renamed), a byte-identical copy
    in another class, and three images moved into the wrong class. Returns (folder, planted facts)."""
    root = make_demo_dataset(tmp_path_factory.mktemp("health") / "shapes", per_class=30, size=64, seed=3)
    near = []
    for source, target, scale, fmt in (("circle/circle_001.jpg", "circle/holiday copy.jpg", 0.75, "JPEG"),
                                       ("square/square_002.png", "square/IMG_2002.jpg", 1.0, "JPEG"),
                                       ("triangle/triangle_004.png", "triangle/bigger.png", 1.5, "PNG")):
        image = Image.open(root / source).convert("RGB")
        image.resize((round(image.width * scale), round(image.height * scale))).save(
            root / target, fmt, **({"quality": 80} if fmt == "JPEG" else {}))
        near.append({source, target})
    shutil.copy(root / "circle/circle_006.png", root / "square/circle_006.png")
    exact = {"circle/circle_006.png", "square/circle_006.png"}
    mislabeled = []
    for source, target in (("circle/circle_010.png", "square/s_910.png"),
                           ("square/square_012.png", "triangle/t_912.png"),
                           ("triangle/triangle_014.png", "circle/c_914.png")):
        (root / source).rename(root / target)
        mislabeled.append(target)
    return root, {"near": near, "exact": exact, "mislabeled": mislabeled}


@pytest.mark.slow
def test_health_finds_every_planted_duplicate_and_most_mislabeled(planted, capsys):
    from tlstudio.cli import main

    root, facts = planted
    assert main(["health", str(root), "--backbone", "squeezenet1_1", "--json"]) == 0  # the default size
    report = json.loads(capsys.readouterr().out)
    assert {"duplicates", "suspected_mislabeled", "outliers", "low_information", "class_counts"} <= set(report)

    project = Project().copy_with(**{"data.folder": str(root), **HEALTH_MODEL})
    from tlstudio.tools.dataset_health import check_health

    health = check_health(project)
    groups = [set(group["files"]) for group in health.duplicates]
    for pair in [*facts["near"], facts["exact"]]:
        assert any(pair <= group for group in groups), (pair, groups)
    conflict = next(g for g in health.duplicates if facts["exact"] <= set(g["files"]))
    assert conflict["kind"] == "exact" and conflict["across_classes"]
    assert len(health.duplicates) <= 6  # the planted ones, not every pair of similar shapes
    top_ten = [entry["file"] for entry in health.suspected_mislabeled[:10]]
    assert sum(name in top_ten for name in facts["mislabeled"]) >= 2, health.suspected_mislabeled[:10]
    moved = next(e for e in health.suspected_mislabeled if e["file"] == "square/s_910.png")
    assert moved["labeled"] == "square" and moved["looks_like"] == "circle"
    for group in health.duplicates:  # a group is a leak exactly when the project's split divides it
        assert isinstance(group["across_split"], bool)

    # A second check reads the features from the store and excluded / fine files drop out.
    marked = project.copy_with(**{"data.exclude": ["square/circle_006.png"],
                                  "data.marked_fine": [facts["mislabeled"][0]]})
    again = check_health(marked)
    assert again.features_cached is False or again.seconds < health.seconds + 5
    assert again.excluded == 1 and not any("square/circle_006.png" in g["files"] for g in again.duplicates)
    assert facts["mislabeled"][0] not in [e["file"] for e in again.suspected_mislabeled]


def test_split_keeps_copies_together_and_leaves_excluded_files_out(planted):
    root, facts = planted
    index = scan(root)
    groups = duplicate_groups([item.path for item in index.items])
    named = [{p.relative_to(root).as_posix() for p in group} for group in groups]
    for pair in [*facts["near"], facts["exact"]]:
        assert any(pair <= group for group in named)

    for seed in range(6):
        project = Project().copy_with(**{"data.folder": str(root), "training.seed": seed,
                                         "data.keep_duplicates_together": True,
                                         "data.exclude": ["circle/c_914.png"]})
        split = project.split(index)
        val = {item.path for item in split.val}
        for group in groups:
            assert len({path in val for path in group}) == 1  # all in validation, or none
        assert root / "circle/c_914.png" not in {item.path for item in split.train + split.val}
    # Off, the split is the plain per-image one it always was.
    plain = Project().copy_with(**{"data.folder": str(root)})
    from tlstudio.data.split import split_index

    assert plain.split(index).val == split_index(index, 0.2, 42).val

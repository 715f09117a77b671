"""Each setting is declared once (settings/sections.py) and the CLI's flags are made from that declaration: an
undeclared field, a help text whose default is not the field's, or a flag whose choices are not the field's fails
here; so do the drifts the declarations replaced. (The GUI's rows: tests/gui/test_settings_rows.py, which also
checks that every field has a flag or a form control.)"""

from __future__ import annotations

import argparse
import re

from tlstudio.cli.main import build_parser
from tlstudio.cli.options import FLAG_FIELDS, resolve_project, shown_default
from tlstudio.settings.fields import leaf_fields
from tlstudio.settings.project import Project, declared_fields, describe
from tlstudio.settings.rules import backbone_changes, cached_copies, with_backbone


def _subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    sub = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return sub.choices[name]


def _flag_actions(command: str = "train") -> dict[str, argparse.Action]:
    """The project flags of a command, by the Project field each writes."""
    return {FLAG_FIELDS[action.dest]: action for action in _subcommand(command)._actions
            if action.dest in FLAG_FIELDS}


def test_every_field_of_a_section_is_declared():
    undeclared = []
    for key, _ in leaf_fields(Project):
        try:
            describe(key)
        except KeyError:
            undeclared.append(key)
    assert undeclared == ["schema_version", "name"]  # the file's own: nobody chooses them in a form or a flag
    assert all(spec.label and spec.help for spec in declared_fields())


def test_flags_are_unique_and_keep_their_names():
    flags = [spec.flag for spec in declared_fields() if spec.flag]
    assert len(flags) == len(set(flags))
    for flag, key in [("--data", "data.folder"), ("--lr", "optimizer.learning_rate"), ("--optimizer", "optimizer.name"),
                      ("--schedule", "schedule.name"), ("--fine-tune-epochs", "training.fine_tune.epochs"),
                      ("--fine-tune-lr-factor", "training.fine_tune.lr_factor"), ("--ema", "optimizer.ema"),
                      ("--unfreeze", "training.fine_tune.unfreeze"), ("--epochs", "training.epochs")]:
        assert describe(key).flag == flag


def test_help_that_names_a_default_names_the_fields():
    shown = 0
    for command in ("train", "lr-find", "race", "scan"):
        for action in _subcommand(command)._actions:
            key = FLAG_FIELDS.get(action.dest) or (action.dest == "max_megapixels" and "data.max_megapixels")
            found = re.search(r"\(default ([^)]+)\)", action.help or "")
            if key and found:
                assert found.group(1) == shown_default(describe(key).default), (command, action.option_strings)
                shown += 1
    assert shown > 50


def test_the_cli_drifts_are_gone():
    actions = _flag_actions()
    # --fine-tune-lr-factor said "(default 0.1)" for a default of 0.01.
    assert "(default 0.01)" in actions["training.fine_tune.lr_factor"].help
    # scan --max-megapixels restated 64.0 instead of reading the field.
    largest = next(a for a in _subcommand("scan")._actions if a.dest == "max_megapixels")
    assert largest.default == Project().data.max_megapixels and "(default 64)" in largest.help
    # The mixed-precision choices were typed by hand and dropped float16.
    assert tuple(actions["training.mixed_precision"].choices) == ("auto", "off", "float16", "bfloat16")
    assert "float16 on Volta" in actions["training.mixed_precision"].help
    # Seven fields had no flag.
    for key in ("data.max_megapixels", "data.keep_duplicates_together", "training.feature_cache",
                "training.augmented_copies", "training.image_cache", "training.xla", "training.deterministic"):
        assert key in actions, key


def test_the_new_flags_write_the_project(tmp_path):
    args = build_parser().parse_args([
        "train", "--data", str(tmp_path), "--max-megapixels", "12", "--keep-duplicates-together",
        "--no-feature-cache", "--augmented-copies", "3", "--no-image-cache", "--xla", "off",
        "--deterministic", "on", "--mixed-precision", "float16"])
    project = resolve_project(args)
    assert (project.data.max_megapixels, project.data.keep_duplicates_together) == (12.0, True)
    training = project.training
    assert (training.feature_cache, training.augmented_copies, training.image_cache) == (False, 3, False)
    assert (training.xla, training.deterministic, training.mixed_precision) == ("off", "on", "float16")
    unset = resolve_project(build_parser().parse_args(["train", "--data", str(tmp_path)]))
    assert unset.training.feature_cache and unset.training.image_cache  # an unset flag leaves the value


def test_a_choice_flag_offers_the_fields_values():
    for key, action in _flag_actions().items():
        spec = describe(key)
        if spec.choices:
            assert tuple(action.choices) == spec.choices, key


def test_choosing_another_backbone_resets_what_means_nothing_on_it():
    project = Project().copy_with(**{"model.backbone": "mobilenet_v2", "model.image_size": 48, "model.freeze": 40})
    changed = with_backbone(project, "inception_v3")  # needs at least 75 px
    assert (changed.model.backbone, changed.model.image_size, changed.model.freeze) == ("inception_v3", None, "all")
    fits = with_backbone(project.copy_with(**{"model.image_size": 96}), "inception_v3")
    assert fits.model.image_size == 96
    assert backbone_changes(project, "mobilenet_v2") == {"model.backbone": "mobilenet_v2"}  # the same one


def test_train_backbone_flag_applies_the_reset_and_other_flags_still_win(tmp_path):
    path = tmp_path / "p.json"
    Project().copy_with(**{"data.folder": str(tmp_path), "model.backbone": "mobilenet_v2", "model.freeze": 40}).save(
        path)
    args = build_parser().parse_args(["train", str(path), "--backbone", "squeezenet1_1"])
    assert resolve_project(args).model.freeze == "all"
    args = build_parser().parse_args(["train", str(path), "--backbone", "squeezenet1_1", "--freeze", "10"])
    assert resolve_project(args).model.freeze == 10


def test_cached_copies_apply_only_with_augmentation_and_say_so():
    plain = cached_copies(Project(), 100)
    assert not plain.applies and "Switch on an augmentation" in plain.note
    augmenting = Project().copy_with(**{"augment.flip": True, "training.augmented_copies": 2})
    plan = cached_copies(augmenting, 100)
    assert plan.applies and "2 × 100 = 200 backbone passes" in plan.note
    off = cached_copies(augmenting.copy_with(**{"training.feature_cache": False}), 100)
    assert "feature cache is off" in off.note


def test_the_readme_flag_table_is_the_generated_one():
    """The README's flags table is made from the declarations (python -m tlstudio.cli.reference): a field added,
    renamed or given a new default shows there as in `tlstudio train --help`."""
    from pathlib import Path

    from tlstudio.cli.reference import flags_markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert flags_markdown() in readme, "run `python -m tlstudio.cli.reference` and paste its table into README.md"

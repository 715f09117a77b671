"""Atomic file writes: a copy appears whole or not at all."""


import pytest

from tlstudio.base.files import copy_file_atomic


def test_copy_replaces_the_target_whole(tmp_path):
    source = tmp_path / "model.keras"
    source.write_bytes(b"new model")
    target = tmp_path / "out" / "kept.keras"
    target.parent.mkdir()
    target.write_bytes(b"old")
    assert copy_file_atomic(source, target) == target
    assert target.read_bytes() == b"new model"
    assert [p.name for p in target.parent.iterdir()] == ["kept.keras"]  # no temporary file left


def test_a_failed_copy_leaves_the_old_file(tmp_path):
    target = tmp_path / "kept.keras"
    target.write_bytes(b"old")
    with pytest.raises(OSError):
        copy_file_atomic(tmp_path / "missing.keras", target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.keras"]

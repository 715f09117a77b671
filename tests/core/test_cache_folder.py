"""The cache folder: a size limit with least-recently-used eviction, its usage, and emptying it."""

import json
import os
import time

import numpy as np
import pytest

from tlstudio.base.cache_folder import (
    CACHE_KINDS,
    WEIGHTS,
    cache_folder,
    cache_usage,
    clear_cache,
    trim_cache,
)
from tlstudio.cli import main
from tlstudio.data.cache import load_images_cached
from tlstudio.data.images import ImageInput


def _entry(folder, name, size, age):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_trim_drops_least_recently_used_large_entries_first_and_never_the_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    oldest = _entry(tmp_path / "images", "a.npy", 400, age=300)
    middle = _entry(tmp_path / "features", "b.npz", 400, age=200)
    newest = _entry(tmp_path / "images", "c.npy", 400, age=100)
    checks = _entry(tmp_path / "scan-checks", "d.json", 5000, age=900)  # small bookkeeping: never evicted
    assert trim_cache(limit=900) == 400
    assert not oldest.exists() and middle.exists() and newest.exists() and checks.exists()
    assert trim_cache(keep=middle, limit=0) == 400  # the entry just written stays, whatever the limit
    assert middle.exists() and not newest.exists()


def test_using_an_entry_makes_it_recent_and_the_limit_applies_on_write(tmp_path, monkeypatch, demo_folder):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    paths = sorted(demo_folder.rglob("*.png"))[:6]
    first, _ = load_images_cached(paths[:3], ImageInput(32))
    load_images_cached(paths[3:], ImageInput(32))
    entries = sorted((tmp_path / "images").glob("*.npy"), key=lambda p: p.stat().st_mtime)
    assert len(entries) == 2
    for entry in entries:  # both a while ago
        os.utime(entry, (time.time() - 100, time.time() - 100))
    again, hit = load_images_cached(paths[:3], ImageInput(32))  # the first set used again: now the newest
    assert hit and np.array_equal(again, first)
    monkeypatch.setenv("TLSTUDIO_CACHE_LIMIT_GB", str(entries[0].stat().st_size * 2.9 / 1e9))
    load_images_cached(paths[:5], ImageInput(32))  # a third entry: over the limit, the least recent goes
    names = {p.name for p in (tmp_path / "images").glob("*.npy")}
    assert len(names) == 2
    _, hit = load_images_cached(paths[:3], ImageInput(32))
    assert hit  # the recently used one survived; the other (paths 3-5) was dropped
    _, hit = load_images_cached(paths[3:], ImageInput(32))
    assert not hit


def test_cli_cache_reports_and_clears(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    _entry(tmp_path / "images", "a.npy", 2000, age=10)
    _entry(tmp_path / "features", "b.npz", 1000, age=10)
    assert main(["cache", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kinds"]["images"] == {"bytes": 2000, "files": 1}
    assert report["kinds"]["features"] == {"bytes": 1000, "files": 1}
    assert main(["cache", "--clear"]) == 0
    assert "Cleared 3.0 kB" in capsys.readouterr().out
    assert cache_usage() == {} and clear_cache() == 0


def test_a_cold_load_writes_the_entry_row_by_row_and_maps_it(tmp_path, monkeypatch, demo_folder):
    """The decoded images go straight into the cache file (never whole in memory) and come back mapped;
    letting go of the mapped pages changes nothing a reader sees."""
    from tlstudio.data.cache import release_pages

    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    paths = sorted(demo_folder.rglob("*.*"))[:9]
    expected = ImageInput(40).load_many(paths)
    images, hit = load_images_cached(paths, ImageInput(40))
    assert not hit and isinstance(images, np.memmap) and not images.flags.writeable
    np.testing.assert_array_equal(images, expected)
    release_pages(images)
    np.testing.assert_array_equal(images[3:7], expected[3:7])
    # Part from the scan's decodes, part decoded now: the same rows, in order.
    (tmp_path / "images").rename(tmp_path / "old")
    again, _ = load_images_cached(paths, ImageInput(40), decoded={paths[1]: expected[1], paths[5]: expected[5]})
    np.testing.assert_array_equal(again, expected)


def test_each_cache_kind_has_one_folder_and_the_weights_are_never_cleared(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_CACHE_DIR", str(tmp_path))
    assert {kind: cache_folder(kind) for kind in (*CACHE_KINDS, WEIGHTS)} == {
        kind: tmp_path / kind for kind in ("images", "features", "backbones", "scan-checks", "image-fingerprints",
                                           "weights")}
    with pytest.raises(KeyError, match="unknown cache kind"):
        cache_folder("thumbnails")
    weights = _entry(cache_folder(WEIGHTS), "w.h5", 10, age=0)
    images = _entry(cache_folder("images"), "a.npy", 10, age=0)
    assert clear_cache() == 10 and weights.exists() and not images.exists()
    assert "weights" not in cache_usage()

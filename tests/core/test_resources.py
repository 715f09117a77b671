"""The files TL Studio ships (weights, icons) are found through one function, installed or frozen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tlstudio.backbones.weight_sources import SHIPPED_WEIGHTS
from tlstudio.base.resources import resource_path

ROOT = Path(__file__).resolve().parents[2]
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_the_shipped_weights_and_icons_are_found():
    assert SHIPPED_WEIGHTS["squeezenet1_1"] == resource_path("weights", "squeezenet1_1_imagenet_notop.h5")
    assert SHIPPED_WEIGHTS["squeezenet1_1"].is_file()
    assert resource_path("icons", "tlstudio.svg").is_file()
    for size in ICON_SIZES:
        with Image.open(resource_path("icons", f"tlstudio-{size}.png")) as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"  # rounded corners stay transparent on any panel


def test_a_frozen_build_reads_its_resources_from_the_bundle(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    bundled = tmp_path / "tlstudio" / "resources" / "icons" / "tlstudio-16.png"
    assert resource_path("icons", "tlstudio-16.png") == bundled


def test_the_resources_come_from_the_top_level_folder():
    """The editable install this suite runs under maps tlstudio.resources to the checkout's resources/ folder."""
    assert resource_path() == ROOT / "resources"


@pytest.mark.slow
def test_a_wheel_carries_every_resource_file_and_the_installed_copy_loads_them(tmp_path):
    """A wheel (what `pip install .` installs) holds every file of resources/ inside the package, where the one
    finder looks for it, and an installed copy reads its weights and icon from there. Built from a copy, so the
    checkout gains no build/ or egg-info folders."""
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info",
                                                                 "__pycache__", "runs"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheel").glob("tlstudio-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = [path.relative_to(ROOT).as_posix() for path in (ROOT / "resources").rglob("*")
               if path.is_file() and "__pycache__" not in path.parts]
    missed = [name for name in shipped if f"tlstudio/{name}" not in names]
    assert shipped and not missed

    # Installed (a pure-Python wheel installs by unpacking), a fresh process finds the weights and the icon in
    # the installed copy, not in this checkout.
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    probe = (
        "import h5py, tlstudio\n"
        "from PIL import Image\n"
        "from tlstudio.backbones.weight_sources import SHIPPED_WEIGHTS\n"
        "from tlstudio.base.resources import resource_path\n"
        "with h5py.File(SHIPPED_WEIGHTS['squeezenet1_1'], 'r') as weights: layers = len(weights.keys())\n"
        "with Image.open(resource_path('icons', 'tlstudio-512.png')) as icon: size = icon.size\n"
        "print(tlstudio.__file__, SHIPPED_WEIGHTS['squeezenet1_1'], layers, size[0], sep='\\n')\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    package, weights, layers, icon_size = done.stdout.split("\n")[:4]
    assert Path(package).is_relative_to(site) and Path(weights).is_relative_to(site / "tlstudio" / "resources")
    assert int(layers) > 0 and int(icon_size) == 512

"""The files TL Studio ships (the top-level resources/ folder: weights and their licences, the icon, the
desktop launcher), found the same way installed, editable or frozen. Imports nothing of tlstudio."""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

RESOURCE_PACKAGE = "tlstudio.resources"  # what the build installs resources/ as (setup.py)


def resource_path(*parts: str) -> Path:
    """A file the app ships, e.g. resource_path("icons", "tlstudio.svg").

    The build installs resources/ as the package `tlstudio.resources` (a wheel copies it; an editable install
    maps the name to the folder in the checkout), so importlib finds it; a PyInstaller build (`sys.frozen`)
    collects the same folder to `tlstudio/resources/` inside the bundle (`sys._MEIPASS`).
    """
    bundle = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if bundle:
        folder = Path(bundle, *RESOURCE_PACKAGE.split("."))
    else:
        folder = Path(str(importlib.resources.files(RESOURCE_PACKAGE)))
    return folder.joinpath(*parts)

"""The frozen app's entry point: the same `tlstudio` command as the pip install (desktop app and CLI).

PyInstaller starts here; `tlstudio worker` (the training process the desktop app starts for each
run) goes through the same entry, since a frozen app's `sys.executable` is the app itself.
"""

import multiprocessing
import sys

from tlstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(main())

"""The command line: `tlstudio COMMAND ...`, everything the desktop app does, headless."""

from tlstudio.cli.main import main

__all__ = ["main"]

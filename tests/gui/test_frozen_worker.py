"""In a frozen build (PyInstaller) there is no `python -m`: the app starts its training worker as itself."""

from __future__ import annotations

import sys

from tlstudio import cli
from tlstudio.gui.worker import worker_command


def test_a_frozen_app_starts_its_worker_through_its_own_worker_command(monkeypatch):
    assert worker_command() == [sys.executable, "-m", "tlstudio.train.worker.process"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert worker_command() == [sys.executable, "worker"]
    started = []
    monkeypatch.setattr("tlstudio.train.worker.process.main", lambda: started.append("worker") or 0)
    assert cli.main(["worker"]) == 0
    assert started == ["worker"]

"""What the run lists may offer for a run: the rule is the run folder's (RunSummary), not the Run page's."""

from pathlib import Path

import pytest

from tlstudio.runs.folder import RUNNING, RunSummary


def summary(status: str | None, resumable: bool) -> RunSummary:
    return RunSummary(Path("/runs/20261130-081600-squeezenet1_1"), "squeezenet1_1", 3, 0.9, True, status,
                      resumable=resumable)


@pytest.mark.parametrize("status", [RUNNING, "FAILED", "STOPPED"])
def test_an_unfinished_run_with_a_completed_epoch_can_be_resumed(status):
    assert summary(status, resumable=True).can_resume
    assert not summary(status, resumable=False).can_resume  # no epoch state to go on from


@pytest.mark.parametrize("status", ["FINISHED", None])
def test_a_finished_run_is_continued_not_resumed(status):
    run = summary(status, resumable=True)
    assert not run.unfinished and not run.can_resume
    assert run.resumable  # "Train more" still can

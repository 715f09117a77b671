"""Stand-in trainers for the worker-process tests (imported by module:Class in the child process)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tlstudio.train.events import BatchEnd, Observer, RunResult, RunStatus, StopToken


class UntilStopped:
    """Steps (and reports batches) until it is asked to stop; writes a marker file as it ends."""

    def run(self, project, observer: Observer, stop_token: StopToken, run_dir: Path | None = None) -> RunResult:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        print("a stray print from a library must not break the message stream")
        step = 0
        while not stop_token.stop_requested and step < 100_000:
            step += 1
            observer.on_train_batch_end(BatchEnd(step, 1, step, 100_000, 1.0, 0.5, 1e-3, 10.0, 1))
            time.sleep(0.002)
        (run_dir / "stopped-cleanly").write_text(str(os.getpid()))
        return RunResult(RunStatus.STOPPED, f"stopped after {step} steps.", run_dir)


class Crashes:
    def run(self, project, observer, stop_token, run_dir=None):
        raise RuntimeError("boom")

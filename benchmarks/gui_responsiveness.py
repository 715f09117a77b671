"""GUI responsiveness (issue 5), run by hand, offscreen; not part of the test suite.

    python benchmarks/gui_responsiveness.py                  # everything: about 5 minutes on 2 cores
    python benchmarks/gui_responsiveness.py --cases 1 --launches 3 --predictions 10

(a) Start-up: `python -m tlstudio gui DATA` in a fresh process with TLSTUDIO_EXIT_AFTER_SHOWN=1,
    which prints "window shown after X s" once the window is up and quits; timed from the launch
    (and X, the app's own count from its process start). Target: under 1 s.
(b) The longest gap between ticks of a 10 ms QTimer on the GUI thread while the real MainWindow
    trains (Train -> TrainingSession -> the worker process -> the real Trainer), for benchmark
    cases 1 (frozen, no augmentation, 10 epochs) and 3 (top layers unfrozen, 3 epochs) of
    `tlstudio_case.py` on the synthetic benchmark data. Target: under 25 ms.
(c) Try-it: the median of N single-image predictions after the first on the Try-it page, with the
    model case 1 trained: from `add_paths` to the page's `predictions_shown` (decode, predict,
    list and bars drawn). Target: under 25 ms.

Settings, app data and caches go to a temporary folder; the user's own are never touched. The
machine may be shared: numbers that look off are worth one rerun.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRATCH = Path(tempfile.mkdtemp(prefix="tlstudio-gui-bench-"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TLSTUDIO_CACHE_DIR"] = str(SCRATCH / "cache")  # a cold image cache, as in benchmarks/run.py
sys.path.insert(0, str(HERE))

TICK_MS = 10
TARGETS = {"shown": 1.0, "gap": 25.0, "predict": 25.0}
BENCHMARK_CLASSES = ("circle", "square", "triangle", "star", "cross")


def make_dataset(folder: Path) -> Path:
    from tlstudio.data.demo import make_demo_dataset

    if not folder.is_dir():
        make_demo_dataset(folder, classes=BENCHMARK_CLASSES, per_class=120, size=256, seed=0)
    return folder


# -- (a) start-up ---------------------------------------------------------------------------------


def time_launch(data: Path) -> tuple[float, float]:
    """(seconds from launch to the line, the app's own seconds from its process start)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TLSTUDIO_EXIT_AFTER_SHOWN="1",
               XDG_CONFIG_HOME=str(SCRATCH / "config"), XDG_DATA_HOME=str(SCRATCH / "data"),
               XDG_CACHE_HOME=str(SCRATCH / "xdg-cache"), PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "tlstudio", "gui", str(data)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env)
    assert process.stdout is not None
    try:
        for line in process.stdout:
            if line.startswith("window shown after"):
                seen = time.perf_counter() - started
                own = float(line.split()[3])
                process.wait(60)
                return seen, own
        process.wait(60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    raise RuntimeError(f"the app exited ({process.returncode}) without saying the window was shown")


# -- (b) and (c): in this process, with the real MainWindow -----------------------------------------


class GilWatch:
    """A thread that sleeps 2 ms at a time; when it wakes late (another thread held the GIL, or
    the machine was busy), it notes where every other thread was: the line after a long hold."""

    def __init__(self, late_ms: float = 40.0) -> None:
        import threading

        self.late_ms = late_ms
        self.found: list[tuple[float, float, str]] = []  # (when, ms late, stacks)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="gil-watch", daemon=True)

    def start(self) -> GilWatch:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        import threading
        import traceback

        me = threading.get_ident()
        names = {}
        while not self._stop.is_set():
            before = time.perf_counter()
            time.sleep(0.002)
            late = (time.perf_counter() - before) * 1000 - 2
            if late < self.late_ms:
                continue
            names.update({t.ident: t.name for t in threading.enumerate()})
            stacks = []
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                lines = traceback.format_stack(frame, limit=6)
                stacks.append(f"[{names.get(ident, ident)}]\n" + "".join(lines[-4:]))
            self.found.append((before, late, "\n".join(stacks)))

    def between(self, start: float, end: float, count: int = 3) -> list[tuple[float, str]]:
        inside = [(late, stacks) for when, late, stacks in self.found if start <= when <= end]
        return sorted(inside, key=lambda pair: -pair[0])[:count]


@dataclass
class GapReport:
    case: int
    seconds: float
    ticks: int
    longest_ms: float
    longest_fit_ms: float  # from the first step on
    p99_ms: float
    feature_cache: bool | None
    status: str
    worst: list[str] = field(default_factory=list)  # the longest gaps, each with what happened around it


@dataclass
class LatencyReport:
    round_trip_ms: list[float] = field(default_factory=list)
    worker_ms: list[float] = field(default_factory=list)
    first_ms: float = 0.0
    model_load_s: float = 0.0


def _gaps_ms(ticks: list[float], start: float, end: float) -> list[float]:
    inside = [t for t in ticks if start <= t <= end]
    return [(b - a) * 1000 for a, b in zip(inside, inside[1:], strict=False)]


def gui_measurements(data: Path, cases: list[int], weights: str, predictions: int,
                     gil_watch: bool = False, page: str = "run") -> tuple[list[GapReport], LatencyReport | None]:
    from PySide6.QtCore import QEventLoop, QObject, QSettings, Qt, QTimer, Slot
    from PySide6.QtWidgets import QMessageBox

    from tlstudio.gui.app import create_application
    from tlstudio.gui.app_settings import AppSettings
    from tlstudio.gui.main_window import MainWindow

    app = create_application()

    def wait_for(signal, timeout_s: float) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    def wait_until(condition, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
            time.sleep(0.005)

    class Recorder(QObject):
        """Ticks of a 10 ms timer, and when the run's events arrived (all on the GUI thread)."""

        def __init__(self) -> None:
            super().__init__()
            self.ticks: list[float] = []
            self.events: list[tuple[float, str]] = []
            self.first_step: float | None = None
            self.feature_cache: bool | None = None
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.TimerType.PreciseTimer)
            self.timer.setInterval(TICK_MS)
            self.timer.timeout.connect(self.tick)

        @Slot()
        def tick(self) -> None:
            self.ticks.append(time.perf_counter())

        @Slot(object)
        def on_batches(self, events: object) -> None:
            if self.first_step is None:
                self.first_step = time.perf_counter()
            last = events[-1] if events else None
            self.events.append((time.perf_counter(), f"{len(events)} batch(es) to step {getattr(last, 'step', '?')}"))

        @Slot(str)
        def on_log(self, message: str) -> None:
            self.events.append((time.perf_counter(), f"log: {message[:90]}"))

        @Slot(object)
        def on_event(self, event: object) -> None:
            self.events.append((time.perf_counter(), type(event).__name__ + " " + str(getattr(event, "epoch", ""))))

        def on_gc(self, phase: str, info: dict) -> None:
            """gc.callbacks hook (any thread): full collections hold the GIL for their whole length."""
            if info.get("generation") != 2:
                return
            now = time.perf_counter()
            if phase == "start":
                self._gc_started = now
            elif getattr(self, "_gc_started", None) is not None:
                took = (now - self._gc_started) * 1000
                self.events.append((self._gc_started, f"full garbage collection {took:.0f} ms"))
                self._gc_started = None

        def explain(self, start: float, end: float, count: int = 5) -> list[str]:
            """The `count` longest gaps, each with the GUI-thread events just before and after it."""
            inside = [t for t in self.ticks if start <= t <= end]
            gaps = sorted(zip(inside, inside[1:], strict=False), key=lambda pair: pair[0] - pair[1])[:count]
            out = []
            for begin, finish in gaps:
                before = [f"{text} ({(begin - t) * 1000:.0f} ms before)" for t, text in self.events
                          if begin - 0.3 <= t <= begin][-2:]
                after = [f"{text} (+{(t - finish) * 1000:.0f} ms)" for t, text in self.events
                         if finish <= t <= finish + 0.3][:2]
                out.append(f"{(finish - begin) * 1000:.0f} ms at {begin - start:.2f} s; before: "
                           f"{'; '.join(before) or '-'}; after: {'; '.join(after) or '-'}")
            return out

        @Slot(object)
        def on_phase(self, event: object) -> None:
            if self.feature_cache is None:
                self.feature_cache = bool(getattr(event, "feature_cache", False))

    settings = AppSettings(QSettings(str(SCRATCH / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(app_settings=settings, app_data_dir=SCRATCH / "appdata")
    window.ask_unsaved = lambda: QMessageBox.StandardButton.Discard
    window.resize(1280, 860)
    window.show()
    window.start_loading_tensorflow()
    wait_until(lambda: window.tensorflow.ready, 300, "TensorFlow")
    from tlstudio_case import project_for  # the benchmark's own settings for each case

    reports: list[GapReport] = []
    case_one_run: Path | None = None
    for case in cases:
        project = project_for(case, str(data), weights)
        window.project.replace(project)
        wait_until(lambda: window.dataset.ready and window.train_action.isEnabled(), 300, "the data scan")
        recorder = Recorder()
        session = window.session
        links = [(session.batches_ended, recorder.on_batches), (session.phase_began, recorder.on_phase),
                 (session.logged, recorder.on_log)]
        links += [(signal, recorder.on_event) for signal in (session.prepared, session.train_began,
                                                             session.phase_began, session.epoch_ended,
                                                             session.train_ended)]
        for signal, slot in links:
            signal.connect(slot)
        modules_before = set(sys.modules)
        import gc

        gc.callbacks.append(recorder.on_gc)
        watch = GilWatch().start() if gil_watch else None
        recorder.timer.start()
        started = time.perf_counter()
        if not window.start_training():
            raise RuntimeError(f"Train is blocked: {window.train_blocker()}")
        window.show_page(page)
        wait_for(window.training_finished, 3600)
        ended = time.perf_counter()
        recorder.timer.stop()
        gc.callbacks.remove(recorder.on_gc)
        for signal, slot in links:
            signal.disconnect(slot)
        outcome = window.session.last_outcome
        gaps = _gaps_ms(recorder.ticks, started, ended)
        fit_gaps = _gaps_ms(recorder.ticks, recorder.first_step or ended, ended)
        reports.append(GapReport(case, ended - started, len(gaps) + 1, max(gaps, default=float("nan")),
                                 max(fit_gaps, default=float("nan")),
                                 sorted(gaps)[int(0.99 * (len(gaps) - 1))] if gaps else float("nan"),
                                 recorder.feature_cache, outcome.status.value if outcome else "?",
                                 recorder.explain(started, ended)))
        report = reports[-1]
        if watch is not None:
            watch.stop()
            for late, stacks in watch.between(started, ended):
                print(f"  --- woke {late:.0f} ms late; the threads were at:\n{stacks}", flush=True)
        imported = sorted({name.split(".")[0] for name in set(sys.modules) - modules_before})
        if imported:
            print(f"  imported while training (the import of an extension module holds the GIL): "
                  f"{', '.join(imported)}", flush=True)
        print(f"  case {case}: {report.seconds:.1f} s, longest gap {report.longest_ms:.0f} ms, p99 "
              f"{report.p99_ms:.0f} ms; the longest gaps:", flush=True)
        for line in report.worst:
            print(f"    {line}", flush=True)
        if case == 1 and outcome is not None and outcome.run_dir:
            case_one_run = Path(outcome.run_dir)

    latency = None
    if predictions and case_one_run is not None:
        latency = LatencyReport()
        page = window.try_page
        window.show_page("try")
        page.run_combo.select(case_one_run)
        image = sorted((data / BENCHMARK_CLASSES[0]).iterdir())[0]
        started = time.perf_counter()
        page.add_paths([image])
        wait_for(page.predictions_shown, 300)
        latency.first_ms = (time.perf_counter() - started) * 1000
        latency.model_load_s = page.model.seconds if page.model else float("nan")
        wait_until(lambda: not page.busy, 60, "the first view")
        for _ in range(predictions):
            started = time.perf_counter()
            page.add_paths([image])
            wait_for(page.predictions_shown, 60)
            latency.round_trip_ms.append((time.perf_counter() - started) * 1000)
            latency.worker_ms.append(page.last_batch.seconds * 1000 if page.last_batch else float("nan"))
            wait_until(lambda: not page.busy, 60, "the view")  # one at a time, as a person would look
    window.shutdown()
    window.close()
    return reports, latency


# -- report ---------------------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "yes" if value < target else f"NO (+{value - target:.3g})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="1,3", help="benchmark cases trained in the window (default 1,3)")
    parser.add_argument("--launches", type=int, default=5, help="start-up measurements (default 5)")
    parser.add_argument("--predictions", type=int, default=20, help="Try-it predictions after the first")
    parser.add_argument("--weights", default="none", help="'none' (default, offline) or 'imagenet'")
    parser.add_argument("--data", type=Path, default=None, help="benchmark data folder (made when missing)")
    parser.add_argument("--page", default="run", help="the page shown while training (default: run, the plots)")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="sys.setswitchinterval for this process, in seconds (diagnosis; Python's default 0.005)")
    parser.add_argument("--gil-watch", action="store_true",
                        help="print where the threads were when a watcher thread woke >40 ms late (diagnosis)")
    args = parser.parse_args()
    cases = [int(c) for c in args.cases.split(",") if c.strip()]
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    data = make_dataset(args.data or SCRATCH / "shapes")
    print(f"data: {data}  scratch: {SCRATCH}", flush=True)

    launches = [time_launch(data) for _ in range(args.launches)]
    for seen, own in launches:
        print(f"  launch: shown {seen:.3f} s after launch ({own:.3f} s by the app's own count)", flush=True)
    gaps, latency = gui_measurements(data, cases, args.weights, args.predictions, args.gil_watch, args.page)

    rows = []
    if launches:
        seen = [s for s, _ in launches]
        own = [o for _, o in launches]
        value = statistics.median(seen)
        rows.append((f"window shown, launch -> shown (median of {len(seen)}; max {max(seen):.2f} s; app's own "
                     f"count {statistics.median(own):.2f} s)", f"{value:.2f} s", f"< {TARGETS['shown']} s",
                     verdict(value, TARGETS["shown"])))
    for report in gaps:
        cache = {True: "feature cache in use", False: "feature cache not used", None: "?"}[report.feature_cache]
        rows.append((f"longest event-loop gap, case {report.case} ({report.seconds:.0f} s run, {report.status}, "
                     f"{cache}; from the first step {report.longest_fit_ms:.0f} ms; p99 {report.p99_ms:.0f} ms)",
                     f"{report.longest_ms:.0f} ms", f"< {TARGETS['gap']:.0f} ms",
                     verdict(report.longest_ms, TARGETS["gap"])))
    if latency is not None and latency.round_trip_ms:
        value = statistics.median(latency.round_trip_ms)
        rows.append((f"Try-it single image, median of {len(latency.round_trip_ms)} after the first (worker "
                     f"{statistics.median(latency.worker_ms):.1f} ms; first {latency.first_ms:.0f} ms incl. "
                     f"loading the model {latency.model_load_s:.1f} s)", f"{value:.1f} ms",
                     f"< {TARGETS['predict']:.0f} ms", verdict(value, TARGETS["predict"])))
    print()
    print("| Measurement | Value | Target | Met |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

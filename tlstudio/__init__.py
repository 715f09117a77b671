"""TL Studio: point-and-click transfer learning for small image datasets.

The public API, for scripts and notebooks (importing it loads no TensorFlow; the functions that build or run
a model load it):

    from tlstudio import Project, Trainer
    project = Project.load("project.json")            # or Project(), then project.copy_with(...)
    result = Trainer().run(project)                   # a run folder: model.keras, history.csv, metrics.json
    evaluate_run(result.run_dir)                      # the run's model on its validation images
    load_predictor(result.run_dir / "model.keras").predict_paths(["cat.jpg"])

The run tools: evaluate_run, calibrate_run, make_ensemble, check_health, find_learning_rate, run_race, and
export_run for the four formats. Everything else is internal and may change between versions.
"""

from importlib.metadata import PackageNotFoundError, version

from tlstudio.export import export_run
from tlstudio.predict.predictor import load_predictor
from tlstudio.settings.project import Project, ProjectError
from tlstudio.tools.calibrate import calibrate_run
from tlstudio.tools.dataset_health import check_health
from tlstudio.tools.ensemble import make_ensemble
from tlstudio.tools.evaluate import evaluate_run
from tlstudio.tools.lr_finder import find_learning_rate
from tlstudio.tools.race import run_race
from tlstudio.train import Observer, RunResult, RunStatus, StopToken, Trainer

try:
    __version__ = version("tlstudio")  # the one statement of it is pyproject.toml
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "unknown"

__all__ = [
    "Observer", "Project", "ProjectError", "RunResult", "RunStatus", "StopToken", "Trainer", "__version__",
    "calibrate_run", "check_health", "evaluate_run", "export_run", "find_learning_rate", "load_predictor",
    "make_ensemble", "run_race",
]

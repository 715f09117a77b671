"""The core stays Qt-free, and light to import: nothing outside tlstudio/gui imports Qt, and TensorFlow loads
only when something is built or run."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "tlstudio"
QT_MODULES = {"PySide6", "pyqtgraph", "shiboken6", "superqt", "PyQt5", "PyQt6"}


def test_no_qt_import_outside_gui():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "gui" in path.relative_to(PACKAGE).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_core_imports_without_qt_or_tensorflow():
    """The GUI reads the registry, tables, previews and cache look-ups, and the CLI answers --help, before
    TensorFlow has loaded (the GUI loads it in the background); nothing of the core loads Qt."""
    code = textwrap.dedent("""
        import sys
        import tlstudio.cli.main, tlstudio.tools.evaluate, tlstudio.export, tlstudio.predict.predictor, tlstudio.train
        import tlstudio.data.demo, tlstudio.data.images, tlstudio.data.scan, tlstudio.data.split
        import tlstudio.data.dataset_index, tlstudio.data.file_checks, tlstudio.data.folder_walk
        import tlstudio.predict.open_run, tlstudio.tools.calibrate, tlstudio.tools.ensemble, tlstudio.model.averaging
        import tlstudio.settings.project, tlstudio.base.files, tlstudio.base.cache_folder, tlstudio.predict.metrics
        from tlstudio.backbones import preprocessing, registry, weight_sources, weights
        from tlstudio.model import augment, build, optimizers, schedules
        schedules.preview(schedules.ScheduleSettings(), 0.1, 5, 20)
        weight_sources.imagenet_weights_cached(registry.get_backbone("mobilenet_v2"), 224)
        weight_sources.default_backbone()
        assert optimizers.OPTIMIZER_HELP
        bad = [m for m in ("keras", "tensorflow", "PySide6", "pyqtgraph") if m in sys.modules]
        assert not bad, bad
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

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


HEAVY_MARKS = ("a keras module", "a tensorflow module")  # how a heavy module says so in its docstring


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _light_modules() -> list[str]:
    """Every module outside gui/ that does not declare itself a Keras or TensorFlow module."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] == "gui" or path.name == "__main__.py":
            continue
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not any(mark in docstring.lower() for mark in HEAVY_MARKS):
            names.append(_module_name(path))
    return names


def test_core_imports_without_qt_or_tensorflow():
    """The GUI reads the registry, tables, previews and cache look-ups, and the CLI answers --help, before
    TensorFlow has loaded (the GUI loads it in the background); nothing of the core loads Qt. Every module
    that does not say it is a Keras or TensorFlow module is light: importing it loads neither."""
    modules = _light_modules()
    assert "tlstudio.train.trainer" in modules and "tlstudio.cli.main" in modules
    code = textwrap.dedent(f"""
        import importlib, sys
        for name in {modules!r}:
            importlib.import_module(name)
        from tlstudio.backbones import registry, weight_sources
        from tlstudio.model import optimizers, schedules
        schedules.preview(schedules.ScheduleSettings(), 0.1, 5, 20)
        weight_sources.imagenet_weights_cached(registry.get_backbone("mobilenet_v2"), 224)
        weight_sources.default_backbone()
        assert optimizers.OPTIMIZER_HELP
        bad = [m for m in ("keras", "tensorflow", "PySide6", "pyqtgraph") if m in sys.modules]
        assert not bad, bad
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_lazy_import_mechanism():
    """Heavy libraries are imported inside the function that needs them, and Keras subclasses live at module level
    in Keras modules: no class factories (a class defined inside a function) and no module `__getattr__`, which
    hide classes from readers and type checkers."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"{path.name}: module __getattr__" for node in tree.body
                      if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"]
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                offenders += [f"{path.name}: class {inner.name} inside {node.name}()" for inner in ast.walk(node)
                              if isinstance(inner, ast.ClassDef)]
    assert offenders == []

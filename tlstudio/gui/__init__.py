"""The desktop app (PySide6 + pyqtgraph): the only package of TL Studio that imports Qt."""

from tlstudio.gui import compat as _compat  # noqa: F401  (must run before Qt is used)

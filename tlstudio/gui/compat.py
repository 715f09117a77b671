"""Work-arounds for bugs of the Qt binding this app is tested with.

PySide6 6.12.0 on Python 3.11 hands out `None` (from every method returning void, such as
`QLabel.setText`) and `True` (from `SignalInstance.emit()`) without taking a reference to
them, as if they were immortal, which they are only from Python 3.12 on. Each such call
spends one reference for good; after some thousands (one training run, or one test session)
the count reaches zero and the interpreter aborts with "none_dealloc: deallocating None" or
"bool_dealloc: deallocating True or False". When the leak is measured here, we give these
singletons a reference count they can never spend, which is what Python 3.12 does.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 16
_IMMORTAL_MARGIN = 1 << 29


class _Probe(QObject):
    fired = Signal()


def binding_leaks_singletons() -> bool:
    """Whether calls into the binding drop references to None or True (measured, not assumed)."""
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(_PROBES):
        probe.setObjectName("probe")
        probe.fired.emit()
    return (none_before - sys.getrefcount(None) >= _PROBES
            or true_before - sys.getrefcount(True) >= _PROBES)


def protect_singletons() -> bool:
    """Apply the work-around if this interpreter and binding need it; True when applied."""
    if sys.version_info >= (3, 12) or not binding_leaks_singletons():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every object in a release build of CPython 3.11.
        ctypes.c_ssize_t.from_address(id(singleton)).value += _IMMORTAL_MARGIN
    return True


PROTECTED = protect_singletons()

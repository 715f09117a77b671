"""Numbers for people: sizes and percentages as the app and the CLI print them."""

from __future__ import annotations

import math


def format_bytes(count: float) -> str:
    """A size for people, in SI units (kB = 1000 bytes), as file managers show them: '12.3 MB'."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def format_percent(value: float | None, missing: str = "–") -> str:
    """0.9731 -> '97.3%'; `missing` when there is no value (or it is not finite)."""
    return f"{value:.1%}" if value is not None and math.isfinite(value) else missing

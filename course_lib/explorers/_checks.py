"""Range checks the explorers' figure functions share, so that a slider value or an index typed by hand
that is out of range is named, with the range, instead of failing as a bare IndexError deep inside."""

from __future__ import annotations

from typing import Any


def check_index(what: str, value: Any, count: int, negative: bool = False) -> int:
    """``value`` as an index into ``count`` items (``negative``: Python's -count..-1 too), or a ValueError
    that names ``what`` and the valid range."""
    if count < 1:
        raise ValueError(f"There is no {what} to show (none was recorded or given).")
    low = -count if negative else 0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value < count:
        valid = f"{low}..{count - 1}" if negative else f"0..{count - 1}"
        raise ValueError(f"{what} must be a whole number in {valid}, got {value!r}.")
    return value % count

"""Ctrl-C during training: finish the current step, keep the last complete checkpoint, say how to resume.

While :func:`catch_interrupt` is active, the first SIGINT (Ctrl-C in a terminal, *Interrupt* in Jupyter)
only sets a flag that the fit loop reads after each optimizer step; a second one interrupts at once, as
usual. Only Python's own Ctrl-C handler is replaced: where SIGINT is ignored (``nohup``, background jobs)
or handled by someone else, and outside the main thread, nothing changes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["InterruptFlag", "TrainingInterrupted", "catch_interrupt"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped cleanly after a Ctrl-C; ``str(err)`` says what was kept and how to resume."""

    def __init__(self, message: str, epochs_done: int) -> None:
        super().__init__(message)
        self.epochs_done = epochs_done

    def __str__(self) -> str:
        return str(self.args[0])


class InterruptFlag:
    """Set by the first SIGINT while :func:`catch_interrupt` is active."""

    def __init__(self) -> None:
        self.raised = False


@contextlib.contextmanager
def catch_interrupt() -> Iterator[InterruptFlag]:
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield flag
        return

    def handler(signum, frame):
        if flag.raised:  # a second Ctrl-C: stop now, the way Python always does
            raise KeyboardInterrupt
        flag.raised = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)

"""One progress bar per training run.

:func:`course_lib.engine.fit` draws a single bar that advances by one per optimizer step over the whole
run; its postfix shows the epoch, the running training loss of that epoch and the previous epoch's
validation summary. One bar, not one per epoch: a notebook stores every bar it drew as a widget, and
bars that were closed or left behind show up frozen below 100% in the saved file.
"""

from __future__ import annotations

from collections.abc import Mapping

from tqdm.auto import tqdm

__all__ = ["RunProgress"]


class RunProgress:
    """A bar for ``epochs`` epochs of ``per_epoch`` steps each (``None``: unknown), ``done`` of them
    finished earlier (a resumed run), stopping after at most ``max_steps`` steps in all.

    ``epochs=None``: a bar for one epoch alone (what ``train_one_epoch`` draws when called by itself)."""

    def __init__(self, epochs: int | None, done: int = 0, per_epoch: int | None = None, *,
                 max_steps: int | None = None, enabled: bool = True, desc: str = "fit") -> None:
        remaining = 1 if epochs is None else max(0, epochs - done)
        total = None if per_epoch is None else per_epoch * remaining
        if max_steps is not None:
            total = max_steps if total is None else min(total, max_steps)
        self.epochs = epochs
        self.epoch = done
        self.current: dict[str, str] = {}
        self.summary: dict[str, str] = {}
        self.bar = tqdm(total=total, desc=desc, unit="step", disable=not enabled)

    def start_epoch(self, epoch: int) -> None:
        """Show that epoch ``epoch`` (1-based) begins."""
        self.epoch = epoch
        self._show()

    def step(self, loss: float, images_per_s: float) -> None:
        """One optimizer step done; ``loss`` is the epoch's running mean training loss."""
        self.current = {"loss": f"{loss:.4f}", "img_s": f"{images_per_s:.1f}"}
        self._show(refresh=False)
        self.bar.update(1)  # redraws (at most every 0.1 s)

    def end_epoch(self, summary: Mapping[str, str]) -> None:
        """The finished epoch's validation summary (e.g. ``val_loss``, ``val_dice``) stays in the postfix
        until the next epoch ends."""
        self.summary = dict(summary)
        self._show()

    def close(self) -> None:
        self.bar.close()

    def _show(self, refresh: bool = True) -> None:
        epoch = {} if self.epochs is None else {"epoch": f"{self.epoch}/{self.epochs}"}
        self.bar.set_postfix({**epoch, **self.current, **self.summary}, refresh=refresh)

"""A notebook executor that waits for each cell's reply in short polls (workaround for jupyter/nbclient#312).

nbclient waits for a cell's ``execute_reply`` with one blocking ``get_msg(timeout=<cell timeout>)`` on the
shell channel. With widgets, the kernel sends comm messages while that wait is pending, and now and then the
reply is received only when the wait times out: the cell "stalls" for exactly the cell timeout (300 s in
this project's CI) although the kernel is idle (nbclient#312; the proposed fix, nbclient#311, makes the
wait short). :class:`PollingClient` keeps nbclient's logic and only splits each wait on the shell channel
into polls of ``poll_interval`` seconds up to the same deadline, which avoided the stall in every run of an
earlier session (33 of 33).

    python scripts/polling_client.py notebooks/03_dropblock.ipynb   # execute in place (used by
                                                                   # scripts/execute_chapters.sh)
"""

from __future__ import annotations

import sys
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.util import ensure_async


class _PollingChannel:
    """A shell channel whose ``get_msg(timeout=T)`` polls in short steps until ``T`` has passed."""

    def __init__(self, channel: Any, interval: float) -> None:
        self._channel, self._interval = channel, interval

    def __getattr__(self, name: str) -> Any:
        return getattr(self._channel, name)

    async def get_msg(self, timeout: float | None = None, **kwargs: Any) -> dict:
        deadline = None if timeout is None else monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - monotonic()
            step = self._interval if left is None else max(0.0, min(self._interval, left))
            try:
                return await ensure_async(self._channel.get_msg(timeout=step, **kwargs))
            except Empty:
                if deadline is not None and monotonic() >= deadline:
                    raise


class PollingClient(NotebookClient):
    """:class:`nbclient.NotebookClient` that waits for replies in polls of ``poll_interval`` seconds."""

    poll_interval = 1.0

    async def async_start_new_kernel_client(self) -> Any:
        kc = await super().async_start_new_kernel_client()
        kc._shell_channel = _PollingChannel(kc.shell_channel, self.poll_interval)
        return kc


def execute_in_place(path: Path, timeout: int = 900) -> None:
    """Execute the notebook at ``path`` from its own folder and write it back (only if every cell ran)."""
    nb = nbformat.read(path, as_version=4)
    PollingClient(nb, timeout=timeout, kernel_name="python3",
                  resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        execute_in_place(Path(name))

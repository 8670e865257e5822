"""Waiting on the cluster: poll a check until it holds or a deadline passes, saying what is still awaited."""

from __future__ import annotations

import time
from typing import Callable


class TimedOut(Exception):
    """The deadline passed; `pending` is what the last check still awaited."""

    def __init__(self, pending: str, timeout: float) -> None:
        super().__init__(pending)
        self.pending, self.timeout = pending, timeout


def poll(check: Callable[[], str | None], timeout: float, progress: Callable[[str], None],
         interval: float = 1.0) -> None:
    """`check` returns None once done, else what it still waits for (shown as progress when it changes,
    and at most every 10 s otherwise). Raises TimedOut."""
    deadline = time.monotonic() + timeout
    shown, shown_at = None, 0.0
    while True:
        pending = check()
        if pending is None:
            return
        now = time.monotonic()
        if now > deadline:
            raise TimedOut(pending, timeout)
        if pending != shown or now - shown_at >= 10:
            progress(f"waiting: {pending} ({deadline - now:.0f}s left)")
            shown, shown_at = pending, now
        time.sleep(interval)

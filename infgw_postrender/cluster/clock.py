"""Time as waits, polls, analysis windows and kube's burst of reads see it: the system's. A module of its own, so
that kube (which times its bursts by it) and waits (which sleeps on it, and ends kube's burst) both import it and
not each other. The fast tier puts a clock of its own in `current` (tests/conftest.py `FakeClock`), so that no test
sleeps."""

from __future__ import annotations

import time


class Clock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


current = Clock()

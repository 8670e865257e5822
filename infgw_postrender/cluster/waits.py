"""Waiting on the cluster: poll a check until it holds or a deadline passes, saying what is still awaited."""

from __future__ import annotations

from collections.abc import Callable

from infgw_postrender.api.objects import condition_is_true
from infgw_postrender.cluster import clock
from infgw_postrender.cluster.kube import Kubectl, forget_reads
from infgw_postrender.errors import MigrateError


def sleep(seconds: float) -> None:
    """Let time pass on the clock; the cluster read before is read again after (kube's burst of reads ends)."""
    forget_reads()
    clock.current.sleep(seconds)


class TimedOut(Exception):
    """The deadline passed; `pending` is what the last check still awaited."""

    def __init__(self, pending: str, timeout: float) -> None:
        super().__init__(pending)
        self.pending, self.timeout = pending, timeout


def poll(
    check: Callable[[], str | None], timeout: float, progress: Callable[[str], None], interval: float = 1.0
) -> None:
    """`check` returns None once done, else what it still waits for (shown as progress when it changes,
    and at most every 10 s otherwise). Raises TimedOut."""
    deadline = clock.current.monotonic() + timeout
    shown, shown_at = None, 0.0
    while True:
        pending = check()
        if pending is None:
            return
        now = clock.current.monotonic()
        if now > deadline:
            raise TimedOut(pending, timeout)
        if pending != shown or now - shown_at >= 10:
            progress(f"waiting: {pending} ({deadline - now:.0f}s left)")
            shown, shown_at = pending, now
        sleep(interval)  # so each check reads the cluster afresh


def wait_established(kubectl: Kubectl, names: list[str], timeout: float, progress: Callable[[str], None]) -> None:
    """Poll until every named CRD has Established=True."""

    def pending() -> str | None:
        established = {
            crd["metadata"]["name"] for crd in kubectl.crds() if condition_is_true(crd.get("status"), "Established")
        }
        missing = [name for name in names if name not in established]
        return f"{', '.join(missing)} to be Established" if missing else None

    try:
        poll(pending, timeout, progress)
    except TimedOut as late:
        raise MigrateError(
            f"CRDs applied, but after {timeout:.0f}s still {late.pending}; check `kubectl get crd`"
        ) from None

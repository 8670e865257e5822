"""Running what a step runs (helm, kubectl, or this tool's own command in this process) with its stderr shown as
it comes and its last `Error: ` line kept, and Ctrl-C handled as a terminal means it: the child gets the
interrupt and ends as it would at a terminal, then the interrupt goes on as KeyboardInterrupt."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

from infgw_postrender.cluster.kube import forget_reads


def run_child(argv: list[str], discard_stdout: bool = False) -> int:
    """Run argv with this process's stdin and stderr (stdout discarded, or this process's); its exit status. A
    SIGINT that reaches only this process (a terminal signals the whole group) is passed on to the child; once
    the child has ended, KeyboardInterrupt. OSError when argv[0] cannot be started."""
    sys.stdout.flush()
    sys.stderr.flush()
    forget_reads()  # the child may change the cluster: what this process read before it is read again after
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL if discard_stdout else None)
    interrupts: list[int] = []

    def interrupted(signum: int, _frame: object) -> None:
        interrupts.append(signum)
        if child.poll() is None:
            child.send_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        code = child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupts:
        raise KeyboardInterrupt
    return code


@contextlib.contextmanager
def stdout_discarded() -> Iterator[None]:
    """This process's stdout, and the stdout its children inherit, go nowhere (a step whose output is not needed)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def stderr_watched(on_line: Callable[[str], None]) -> Iterator[None]:
    """Everything written to stderr meanwhile (by this process or its children) still reaches it, line by line
    as it comes, and each line is shown to `on_line` too."""
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def copy() -> None:
        with open(read_end, encoding="utf-8", errors="replace") as lines, open(saved, "w", closefd=False) as out:
            for line in lines:
                out.write(line)
                out.flush()
                on_line(line)

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the copy ends once it has passed everything on
        thread.join()
        os.close(saved)


def error_line(line: str) -> str | None:
    """The message of an `Error: ...` line (this tool, Helm) or an `error: ...` line (kubectl)."""
    if line.startswith(("Error: ", "error: ")):
        return line.strip().split(": ", 1)[1]
    return None

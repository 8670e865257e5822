"""`--debug` (and HELM_DEBUG, which Helm sets for a plugin run with `helm --debug`): every kubectl and helm command
line the tool runs is echoed on stderr as it starts, with credentials redacted."""

from __future__ import annotations

import os
import re
import shlex
import sys

_SECRET_FLAGS = re.compile(r"^(--(?:token|password|client-key|kube-token|username)(?:=|$))(.*)$")


def enabled() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true") for name in ("INFGW_DEBUG", "HELM_DEBUG"))


def echo(argv: list[str]) -> None:
    if not enabled():
        return
    shown, hide_next = [], False
    for arg in argv:
        if hide_next:
            shown.append("[redacted]")
            hide_next = False
            continue
        found = _SECRET_FLAGS.match(arg)
        if found and found.group(1).endswith("="):
            shown.append(found.group(1) + "[redacted]")
        else:
            shown.append(arg)
            hide_next = bool(found)
    print(f"debug: {shlex.join(shown)}", file=sys.stderr, flush=True)

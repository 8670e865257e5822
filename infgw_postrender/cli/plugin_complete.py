"""`plugin.complete WORD... PARTIAL` (Helm 3 and 4 call it for `helm infgw-migrate <TAB>`): the candidates of
complete.candidates for the commands of main. A module of its own: main imports complete, and this imports both."""

from __future__ import annotations

import sys

from infgw_postrender.cli.complete import FILES, candidates
from infgw_postrender.cli.main import cli


def main() -> None:
    """`plugin.complete WORD... PARTIAL`: one candidate a line, then `:<directive>`; never a word on stderr (Helm 4
    reads it as candidates too)."""
    *words, partial = sys.argv[1:] or [""]
    try:
        found, directive = candidates(cli, words, partial)
    except Exception:  # noqa: BLE001 (a completion must never print a traceback into the user's shell)
        found, directive = [], FILES
    sys.stdout.write("".join(f"{value}\n" for value in found) + f":{directive}\n")


if __name__ == "__main__":
    main()

"""Completion for Helm (`plugin.complete`, which Helm 3 and 4 call for `helm infgw-migrate <TAB>` with the words
typed so far and the partial word last) and for the console script (`infgw-migrate completion bash|zsh|fish`),
both from click's own completion of the commands: nothing is listed twice. Helm's entry is plugin_complete."""

from __future__ import annotations

import click
from click.shell_completion import ShellComplete, get_completion_class

PROG = "infgw-migrate"
# cobra's ShellCompDirective, read by Helm from a last line `:<n>`: 4 = no file completion, 0 = the shell's default
NO_FILES, FILES = 4, 0


def candidates(cli: click.Command, words: list[str], partial: str) -> tuple[list[str], int]:
    """What may come next, and whether the shell should offer files instead (an option that takes a path)."""
    items = ShellComplete(cli, {}, PROG, "").get_completions(words, partial)
    if any(item.type in ("file", "dir") for item in items):
        return [], FILES
    return [item.value for item in items], NO_FILES


def script(cli: click.Command, shell: str) -> str:
    """The completion script for `shell`, for the console script `infgw-migrate`."""
    found = get_completion_class(shell)
    if found is None:
        raise click.BadParameter(shell)
    return found(cli, {}, PROG, "_INFGW_MIGRATE_COMPLETE").source()

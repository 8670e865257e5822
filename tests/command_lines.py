"""Whether a command line that the docs or a --help example show is one the CLI accepts as written (no unknown
flag, no missing argument): parsed by click as the installed commands parse it, nothing run."""

from __future__ import annotations

import click

from infgw_postrender.cli.main import cli
from infgw_postrender.cli.postrender_command import command as postrender_command


def parses(program: str, words: list[str]) -> None:
    """Raise as the CLI would for `program WORDS` (`infgw-migrate` or `infgw-postrender`); --help passes. A shell's
    pipe or redirection ends the command, and a loop's `$weight` stands for a weight."""
    for piece in ("|", ">", "<", ";", "&&"):
        if piece in words:
            words = words[: words.index(piece)]
    words = ["50" if word.startswith("$") else word for word in words]
    if program == "infgw-postrender":
        try:
            postrender_command.make_context("infgw-postrender", words)
        except click.exceptions.Exit:
            pass
        return
    group_flags = [param.opts[0] for param in cli.params if param.opts[0].startswith("--")]
    while words and words[0] in group_flags:  # infgw-migrate's own flags (--debug) come before the command
        words = words[1:]
    with cli.make_context("infgw-migrate", list(words), resilient_parsing=False) as context:
        name, command, rest = cli.resolve_command(context, list(words))
        assert command is not None, words
        try:
            command.make_context(name, rest, parent=context)
        except click.exceptions.Exit:
            pass  # --help

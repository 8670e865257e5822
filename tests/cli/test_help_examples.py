"""Issue 11.2: every example in every command's --help is a command line that the CLI accepts as written (no
unknown flag, no missing argument), spelled as a user with only the plugin installed types it."""

from __future__ import annotations

import shlex

import click
import pytest

from infgw_postrender.cli.main import cli
from infgw_postrender.cli.postrender import command as postrender_command


def examples() -> list[tuple[str, str]]:
    found = []
    commands = {name: command for name, command in cli.commands.items()}
    for name, command in [("infgw-migrate", cli), *commands.items(), ("infgw-postrender", postrender_command)]:
        text = "\n".join(part for part in (command.help, command.epilog) if part)
        joined = text.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" # ")[0].strip()
            if "helm infgw-migrate " in line and "$(helm infgw-migrate" not in line:
                found.append((name, line.split("helm infgw-migrate ", 1)[1]))
    return found


def test_every_command_has_an_example():
    named = {next(arg for arg in shlex.split(line) if not arg.startswith("--")) for _, line in examples()}
    assert named >= set(cli.commands), set(cli.commands) - named


@pytest.mark.parametrize("origin, line", examples(), ids=[f"{origin}:{line[:40]}" for origin, line in examples()])
def test_each_example_parses(origin, line):
    args = ["50" if arg.startswith("$") else arg for arg in shlex.split(line)]  # a shell loop's $weight
    group_flags = [param.opts[0] for param in cli.params if param.opts[0].startswith("--")]
    while args and args[0] in group_flags:  # infgw-migrate's own flags (--debug) come before the command
        args = args[1:]
    for piece in ("|", ">", "<"):
        if piece in args:
            args = args[: args.index(piece)]
    with cli.make_context("infgw-migrate", list(args), resilient_parsing=False) as context:
        sub_name, sub_command, rest = cli.resolve_command(context, list(args))
        assert sub_command is not None, line
        try:
            sub_command.make_context(sub_name, rest, parent=context)
        except click.exceptions.Exit:
            pass  # --help in an example

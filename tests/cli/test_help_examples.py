"""Issue 11.2: every example in every command's --help is a command line that the CLI accepts as written (no
unknown flag, no missing argument), spelled as a user with only the plugin installed types it."""

from __future__ import annotations

import shlex

import pytest
from command_lines import parses

from infgw_postrender.cli.main import cli
from infgw_postrender.cli.postrender_command import command as postrender_command


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
    parses("infgw-migrate", shlex.split(line))

"""Issue 24.4: `infgw-migrate completion bash|zsh|fish` prints click's script for the console script, and the script's
callback answers from the same commands (`_INFGW_MIGRATE_COMPLETE`)."""

from __future__ import annotations

import pytest
from conftest import in_process

from infgw_postrender.cli.complete import candidates
from infgw_postrender.cli.main import cli


@pytest.mark.parametrize("shell, words", [
    pytest.param("bash", "complete -o nosort -F", marks=pytest.mark.e2e),  # click asks bash its version
    ("zsh", "#compdef infgw-migrate"), ("fish", "complete --no-files --command infgw-migrate"),
])  # fmt: skip
def test_the_script_for_each_shell(shell, words):
    done = in_process(cli, "infgw-migrate", ["completion", shell])
    assert done.returncode == 0 and words in done.stdout and "_INFGW_MIGRATE_COMPLETE" in done.stdout


def test_the_script_s_callback_completes_commands_and_flags():
    """What bash's function asks (COMP_WORDS, COMP_CWORD): click answers `type,value` lines."""
    env = {"_INFGW_MIGRATE_COMPLETE": "bash_complete", "COMP_WORDS": "infgw-migrate shift --ga-w", "COMP_CWORD": "2"}
    done = in_process(cli, "infgw-migrate", [], env=env)
    assert done.stdout.splitlines() == ["plain,--ga-weight"]


@pytest.mark.parametrize(
    "words, partial, offered, files",
    [([], "ab", ["abort"], False), (["migrate"], "--stag", ["--stages"], False),
     (["migrate", "--state-dir"], "", [], True), (["crds"], "--apply", ["--apply"], False)],
)  # fmt: skip
def test_what_helm_s_plugin_complete_answers(words, partial, offered, files):
    found, directive = candidates(cli, words, partial)
    assert found == offered and directive == (0 if files else 4)


def test_an_unknown_shell_is_one_line():
    done = in_process(cli, "infgw-migrate", ["completion", "tcsh"])
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "tcsh" in done.stderr

"""Exceptions that mean something to a user: each carries the one line the CLI prints and its exit status.
They know nothing of the CLI: the commands' classes (cli/params.py) are the one place where they become
`Error: ...` on stderr and an exit status, whether a command runs from its entry point or in process
(CliRunner). Anything else is a bug: a traceback and status 1."""

from __future__ import annotations


class MigrateError(Exception):
    """A user-facing failure; `format_message()` is the single line shown on stderr."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def format_message(self) -> str:
        # one line whatever the message quotes (a `# Source:` path or a value may hold line breaks)
        return " ".join(self.message.split())


class InputError(MigrateError):
    """Bad input (manifests, flags, files): nothing is written, exit status 2."""

    exit_code = 2


def where(index: int, source: str | None) -> str:
    """How a document of the stream is named in messages."""
    return f"document {index}" + (f" ({source})" if source else "")


class Refused(MigrateError):
    """A safety check said no (traffic still on the alpha pool, GA pool not accepted...); nothing was changed."""

    exit_code = 3


# `detect --exit-code`: a migration is needed (distinct from errors 1, 2 and refusals 3).
EXIT_MIGRATION_NEEDED = 4
# `migrate` stopped on purpose before the end (a traffic stage nobody asked for, or the last asked stage below 100):
# nothing failed, and it printed the command that goes on.
EXIT_STOPPED = 5

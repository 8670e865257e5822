"""Exceptions that mean something to a user: each carries the one line the CLI prints."""

from __future__ import annotations


class MigrateError(Exception):
    """A user-facing failure; `str()` is the single line shown on stderr."""

    exit_code = 1


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

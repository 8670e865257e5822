"""What every command shares: parameter types that check a value where it is parsed, and the command classes
that make a usage mistake one line and turn every MigrateError into `Error: ...` and its exit status (the one
place where that happens)."""

from __future__ import annotations

import sys
from typing import Any

import click

from infgw_postrender.api.names import check_name_flag, weight_flag
from infgw_postrender.errors import InputError, MigrateError


def _flag(param: click.Parameter | None) -> str:
    return (
        max(param.opts, key=len)
        if isinstance(param, click.Option)
        else (param.human_readable_name if param else "value")
    )


class Percent(click.ParamType):
    """A traffic weight: a whole number from 0 to 100."""

    name = "0-100"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        return weight_flag(value, _flag(param))


class Percents(click.ParamType):
    """Weights to walk, such as 0,50,100 (empty: none given)."""

    name = "W,W,..."

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> list[int]:
        if isinstance(value, list):
            return value
        try:
            weights = [int(part) for part in str(value).split(",") if part.strip()]
        except ValueError:
            raise InputError(f"{_flag(param)} {value!r}: expected weights such as 0,50,100") from None
        if any(not 0 <= weight <= 100 for weight in weights):
            raise InputError(f"{_flag(param)} {value!r}: weights go from 0 to 100")
        return weights


class DnsLabel(click.ParamType):
    """A Kubernetes object name or namespace (DNS-1123 label); {release} may stand for the release's name."""

    name = "NAME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return check_name_flag(str(value), _flag(param))


class Duration(click.ParamType):
    """Seconds, written as 300ms, 5s, 2m or a plain number of seconds."""

    name = "DURATION"
    _UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        unit = next((u for u in ("ms", "s", "m", "h") if text.endswith(u)), "")
        try:
            seconds = float(text[: len(text) - len(unit)]) * self._UNITS.get(unit, 1.0)
        except ValueError:
            raise InputError(f"{_flag(param)} {value!r}: expected a duration such as 500ms, 5s or 2m") from None
        if seconds <= 0:
            raise InputError(f"{_flag(param)} {value!r}: must be more than 0")
        return seconds


PERCENT, PERCENTS, DNS_LABEL, DURATION = Percent(), Percents(), DnsLabel(), Duration()


def show_error(error: MigrateError) -> int:
    """The error's one line on stderr, as every command shows it; its exit status."""
    click.echo(f"Error: {error.format_message()}", err=True)
    return error.exit_code


class _OneLineUsage(click.Command):
    """A usage mistake (unknown flag, missing argument) as one line and status 2, naming where the help is; any
    MigrateError as its one line and its exit status."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: ANN001, ANN201 (click's signature)
        try:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        except MigrateError as error:
            if not standalone_mode:
                raise
            sys.exit(show_error(error))

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201 (click's signature)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as mistake:
            raise _usage(mistake, parent.find_root().info_name if parent else info_name) from None


def _usage(mistake: click.UsageError, prog_name: str | None) -> InputError:
    return InputError(f"{mistake.format_message()} (see {prog_name} --help)")


class Command(_OneLineUsage, click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["argv"] = list(args)  # as given (after the command's name): `migrate` prints it to go on
        return super().parse_args(ctx, args)


class Group(_OneLineUsage, click.Group):
    command_class = Command

    def resolve_command(self, ctx: click.Context, args: list[str]):  # noqa: ANN201 (click's signature)
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as mistake:
            raise _usage(mistake, ctx.find_root().info_name) from None

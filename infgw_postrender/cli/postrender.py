"""The post-renderer: rendered manifests on stdin, the GA stack on stdout, the report on stderr.

Its start is paid by every `helm install`: a command line of its own flags, written plainly, is read here and runs
without importing click (a fifth of the start, issue 33); anything else (--help, --version, a mistake, completion)
goes to the click command (postrender_command), which says what is wrong. Both read the flags from FLAGS."""

from __future__ import annotations

import errno
import gc
import os
import stat
import sys
from collections.abc import Callable
from typing import Any

from infgw_postrender.api.names import check_name_flag, weight_flag
from infgw_postrender.cli.postrender_run import COMMAND_FLAGS, FLAGS, Flag, run
from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.postrender.pipeline import Result


def command_line(args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments the click command would call run() with, when every argument is one of FLAGS or
    COMMAND_FLAGS written plainly (`--flag=value`, `--flag value`, a switch alone), each value one it takes and
    each flag but --objective given once; None otherwise (the click command reads it, and says what is wrong)."""
    flags = {name: flag for flag in FLAGS + COMMAND_FLAGS for name in flag.names}
    values = {flag.dest: flag.default for flag in FLAGS + COMMAND_FLAGS}
    given = set()
    position = 0
    while position < len(args):
        name, equals, value = args[position].partition("=")
        position += 1
        flag = flags.get(name)
        if flag is None:
            return None
        if flag.kind == "switch":
            if equals:
                return None
            values[flag.dest] = True
            continue
        if not equals:
            if position == len(args) or args[position].startswith("-"):
                return None  # no value, or one that looks like a flag: click's to tell
            value = args[position]
            position += 1
        if flag.kind == "list":
            values[flag.dest] += (value,)
            continue
        if flag.dest in given:
            return None
        given.add(flag.dest)
        try:
            values[flag.dest] = _value(flag, value)
        except (InputError, ValueError):
            return None
    return values


def _value(flag: Flag, value: str) -> Any:
    """The value as the click command's type makes it (params.DnsLabel, params.Percent, click.Path), or an error."""
    if flag.kind == "name":
        return check_name_flag(value, flag.names[-1])
    if flag.kind == "weight":
        return weight_flag(value, flag.names[-1])
    if flag.kind == "file":
        try:
            mode = os.stat(value).st_mode
        except OSError:
            return value  # not there yet (a report to write): click.Path takes it
        if stat.S_ISDIR(mode) or not os.access(value, os.R_OK):
            raise ValueError(value)  # click.Path(dir_okay=False) refuses a directory, and what it cannot read
    return value


def main() -> None:
    # Almost everything a post-render makes lives to its end (the documents, the report): the collector's rounds
    # over them free nothing. Fewer rounds, and none over what the imports made nor over the stream once it is
    # read (a round over its documents late in a run: 10 ms of a thousand releases, issue 33).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    _rendered = run_command_line(sys.argv[1:], after_reading=gc.freeze)
    # Rendered, written and flushed: the process ends without freeing the stream object by object (kept alive by
    # `_rendered` until then) and without the interpreter's teardown, 2.5% of a thousand releases (issue 33).
    sys.stderr.flush()
    os._exit(0)


def run_command_line(args: list[str], after_reading: Callable[[], None] | None = None) -> Result | None:
    """`infgw-postrender ARGS`: a plain command line of its flags run here, anything else by the click command
    (which ends the process); `after_reading()` once the stream is read, when run here. What was rendered."""
    values = None if "_INFGW_POSTRENDER_COMPLETE" in os.environ else command_line(args)
    if values is None:
        from infgw_postrender.cli.postrender_command import command

        command.main(args, prog_name="infgw-postrender")
        return None
    try:
        return run(**values, after_reading=after_reading)
    except MigrateError as error:  # as the click command ends on one (params._OneLineUsage)
        from infgw_postrender.cli.params import show_error

        sys.exit(show_error(error))
    except (EOFError, KeyboardInterrupt):  # as click ends on these
        sys.stderr.write("\nAborted!\n")
        sys.exit(1)
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        sys.exit(1)  # the reader went away: quiet, as click ends then

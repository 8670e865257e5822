"""`infgw-postrender`'s click command: its --help, its usage mistakes, its completion, and every command line the
post-renderer's start does not read itself (postrender.main: a command line of its own flags, written plainly,
runs without importing click)."""

from __future__ import annotations

import click

from infgw_postrender import __version__
from infgw_postrender.cli.params import DNS_LABEL, PERCENT, Command
from infgw_postrender.cli.postrender_run import COMMAND_FLAGS, FLAGS, Flag, report_failure, run
from infgw_postrender.errors import MigrateError

EXAMPLE = """
\b
Examples:
  # Helm 3: the GA release beside the alpha one, pool renamed, 50/50 split
  helm install vllm-ga oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool \\
    --version v1.0.0 --set inferencePool.modelServers.matchLabels.app=vllm \\
    --post-renderer "$(helm infgw-migrate install-postrenderer)" \\
    --post-renderer-args --alpha-pool=vllm --post-renderer-args --ga-weight=50
\b
  # Offline, on a rendered file (a CI render: no cluster is read)
  helm template vllm-ga ./inferencepool | infgw-postrender --objectives-from models.yaml --alpha-pool vllm \\
    --ga-weight 0 --offline --report report.json
"""


def _option(flag: Flag):  # noqa: ANN202 (a click decorator)
    """The click option of one of the post-renderer's flags."""
    if flag.kind == "switch":
        return click.option(*flag.names, flag.dest, is_flag=True, help=flag.help)
    if flag.kind == "list":
        return click.option(*flag.names, flag.dest, multiple=True, metavar=flag.metavar, help=flag.help)
    kind = {"name": DNS_LABEL, "weight": PERCENT, "file": click.Path(dir_okay=False), "text": None}[flag.kind]
    return click.option(
        *flag.names,
        flag.dest,
        type=kind,
        default=flag.default,
        show_default=flag.default is not None,
        metavar=flag.metavar,
        help=flag.help,
    )


def _options(flags: tuple[Flag, ...]):  # noqa: ANN202 (a click decorator)
    """A decorator that gives a command these flags' options."""

    def decorate(func):  # noqa: ANN001, ANN202
        for flag in reversed(flags):
            func = _option(flag)(func)
        return func

    return decorate


options_decorator = _options(FLAGS)  # the post-renderer's flags: `infgw-postrender`'s and `infgw-migrate postrender`'s


class PostRendererCommand(Command):
    """A flag Helm passed wrong (--post-renderer-args) is reported where Helm lets it be seen, as every failure is."""

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201 (click's signature)
        given = list(args)  # click consumes the list as it parses
        try:
            return super().make_context(info_name, args, parent, **extra)
        except MigrateError as error:
            report_failure(error, _given(given, "--error-file"), _given(given, "--report"))
            raise


def _given(args: list[str], flag: str) -> str | None:
    """The value of `flag` on a command line that did not parse."""
    for position, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and position + 1 < len(args):
            return args[position + 1]
    return None


@click.command(
    "postrender", cls=PostRendererCommand, epilog=EXAMPLE, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="infgw-postrender")
@options_decorator
@_options(COMMAND_FLAGS)
def command(report_path: str | None, quiet: bool, **flags) -> None:
    """Post-render inferencepool chart output into a GA stack that runs beside the alpha one (also
    `infgw-migrate postrender`): manifests on stdin, the GA stack on stdout, the report on stderr.

    With --ga-weight below 100, the route leaves the alpha pool traffic: that pool and its EPP are checked through
    kubectl first, as `shift` checks them (refused when missing; when no cluster answers, the report says it was
    not checked; --offline says so on purpose)."""
    run(report_path, quiet, **flags)

"""`infgw-migrate` (also `helm infgw-migrate`): thin click commands over plain functions."""

from __future__ import annotations

import click

from infgw_postrender import __version__
from infgw_postrender.postrender import EXAMPLE, options_decorator, run, standalone, fail
from infgw_postrender.errors import MigrateError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="infgw-migrate")
def cli() -> None:
    """Migrate a GKE Inference Gateway from v1alpha2 to v1 (InferencePool GA plus InferenceObjective).

    \b
    Example:
      helm template vllm-ga ./inferencepool | helm infgw-migrate postrender --alpha-pool vllm --ga-weight 50
    """


@cli.command(epilog=EXAMPLE)
@options_decorator
def postrender(report_path: str | None, quiet: bool, **flags) -> None:
    """The post-renderer (same as `infgw-postrender`): manifests on stdin, GA stack on stdout."""
    try:
        run(report_path, quiet, **flags)
    except MigrateError as error:
        fail(error)


def main() -> None:
    standalone(cli, "infgw-migrate")

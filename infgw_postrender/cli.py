"""`infgw-migrate` (also `helm infgw-migrate`): thin click commands over plain functions."""

from __future__ import annotations

import click

from infgw_postrender import __version__
from infgw_postrender.postrender import EXAMPLE, options_decorator, run, standalone, fail
from infgw_postrender.errors import MigrateError
from infgw_postrender.helm import Helm
from infgw_postrender.postrenderer_plugin import PLUGIN_NAME, install


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


@cli.command("install-postrenderer")
def install_postrenderer() -> None:
    """Make the post-renderer usable by the Helm in HELM_BIN.

    On Helm 4 it installs the postrenderer/v1 plugin `infgw-postrender`; on Helm 3 it installs nothing
    (a v1 plugin.yaml breaks Helm 3's plugin loading) and prints the path to pass to --post-renderer.

    \b
    Example:
      helm infgw-migrate install-postrenderer
      helm install vllm-ga CHART --post-renderer infgw-postrender          # Helm 4
      helm install vllm-ga CHART --post-renderer "$(helm infgw-migrate install-postrenderer)"   # Helm 3
    """
    try:
        wiring = install(Helm.from_env())
    except MigrateError as error:
        fail(error)
    if wiring.installed_plugin:
        click.echo(f"installed Helm {wiring.helm_major} post-renderer plugin {PLUGIN_NAME} from {wiring.installed_plugin}", err=True)
        click.echo(f"use: --post-renderer {wiring.post_renderer}", err=True)
    else:
        click.echo(f"Helm {wiring.helm_major}: nothing installed; pass this path to --post-renderer:", err=True)
    click.echo(wiring.post_renderer)


def main() -> None:
    standalone(cli, "infgw-migrate")

"""`infgw-migrate` (also `helm infgw-migrate`): thin click commands over plain functions."""

from __future__ import annotations

import os
import shlex
import sys
import tempfile

import click

from infgw_postrender import __version__
from infgw_postrender.cli import detect, migration, stack, traffic
from infgw_postrender.cli.params import Group
from infgw_postrender.cli.postrender_command import command as postrender_command
from infgw_postrender.cli.postrender_command import options_decorator
from infgw_postrender.cli.postrender_run import as_args, options_of
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.kube import use_kubeconfig
from infgw_postrender.helm_plugin.install import helm_command, run_helm
from infgw_postrender.helm_plugin.plugin import PLUGIN_NAME, install
from infgw_postrender.postrender.pipeline import preflight


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="infgw-migrate")
@click.option(
    "--debug",
    is_flag=True,
    help="Echo every kubectl and helm command line on stderr as it starts "
    "(credentials redacted); also HELM_DEBUG=1, as `helm --debug` sets it for a plugin.",
)
def cli(debug: bool) -> None:
    """Migrate a GKE Inference Gateway from v1alpha2 to v1 (InferencePool GA plus InferenceObjective).

    \b
    Example:
      helm template vllm-ga ./inferencepool | helm infgw-migrate postrender --alpha-pool vllm --ga-weight 50
      helm infgw-migrate --debug detect -n llm          # every kubectl and helm command it runs, on stderr
    """
    if debug:
        os.environ["INFGW_DEBUG"] = "1"  # the steps migrate runs as processes of their own echo theirs too


cli.add_command(postrender_command)


@cli.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """The completion script of `infgw-migrate` for your shell (run as `helm infgw-migrate`, Helm's own
    completion answers through the plugin's plugin.complete).

    \b
    Examples:
      source <(infgw-migrate completion bash)
      infgw-migrate completion zsh > "${fpath[1]}/_infgw-migrate"
      infgw-migrate completion fish > ~/.config/fish/completions/infgw-migrate.fish
      helm infgw-migrate completion bash > infgw-migrate.bash    # the same script, from the plugin's environment
    """
    from infgw_postrender.cli.complete import script

    click.echo(script(cli, shell))


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
    wiring = install(Helm.from_env())
    if wiring.installed_plugin:
        click.echo(
            f"installed Helm {wiring.helm_major} post-renderer plugin {PLUGIN_NAME} from {wiring.installed_plugin}",
            err=True,
        )
        click.echo(f"use: --post-renderer {wiring.post_renderer}", err=True)
    else:
        click.echo(f"Helm {wiring.helm_major}: nothing installed; pass this path to --post-renderer:", err=True)
    click.echo(wiring.post_renderer)


def _chart_command(verb: str, example: str) -> None:
    """`install`, `upgrade` and `template`: the same command but for Helm's verb."""

    @click.pass_context
    def command(
        ctx: click.Context, release_name: str, chart: str, offline: bool, dry_run: bool = False, **flags
    ) -> None:
        with tempfile.TemporaryDirectory(prefix="infgw-migrate-") as private:
            # Helm 4 never shows a post-renderer's stderr: it writes its error here too, and we print it
            flags["error_file"] = flags["error_file"] or os.path.join(private, "post-renderer-error")
            helm = Helm.from_env()
            output = {key: flags.pop(key) for key in ("report_path", "error_file", "quiet")}
            options = options_of(flags)
            preflight(options)
            kubeconfig = _helm_flag(list(ctx.args), "--kubeconfig")
            if kubeconfig:  # Helm's own flag: our kubectl (and the post-renderer's) read the same file
                use_kubeconfig(kubeconfig)
            if verb != "template" and not offline:
                _check_alpha_serves(options, list(ctx.args))
            # the post-renderer checks the alpha pool too (as it does under a bare `helm install`): on Helm's cluster
            context = _helm_flag(list(ctx.args), "--kube-context")
            renderer_args = [
                *as_args(options, **output),
                *(["--offline"] if offline else []),
                *([f"--kube-context={context}"] if context else []),
            ]
            line = helm_command(helm, verb, release_name, chart, list(ctx.args), renderer_args, dry_run)
            click.echo(f"+ {shlex.join(line)}", err=True)
            status = run_helm(line)
            if status != 0 and os.path.exists(output["error_file"]):
                with open(output["error_file"], encoding="utf-8") as handle:
                    message = handle.read().strip()
                if message:
                    click.echo(f"{message} (the post-renderer's error)", err=True)
        sys.exit(status)

    if verb != "template":  # helm template changes nothing already
        command = click.option(
            "--dry-run",
            is_flag=True,
            help="Print the Helm command and run it with Helm's --dry-run=client (no change).",
        )(command)
    command = click.option(
        "--offline",
        is_flag=True,
        help="Read no cluster: the alpha pool of --ga-weight below "
        "100 is not checked (the post-renderer's report says so).",
    )(command)
    command = options_decorator(command)
    command = click.argument("chart")(command)
    command = click.argument("release_name", metavar="RELEASE")(command)
    cli.command(
        verb,
        epilog=example,
        help=(
            f"helm {verb} the GA inferencepool chart with the post-renderer wired in: a path on Helm 3, the "
            f"infgw-postrender plugin on Helm 4. RELEASE and CHART first; the post-renderer's flags (--alpha-pool, "
            f"--ga-weight, --objective...) are this command's, every other flag goes to helm {verb} as it is."
        ),
        context_settings={
            "ignore_unknown_options": True,
            "allow_extra_args": True,
            "help_option_names": ["-h", "--help"],
        },
    )(command)


def _check_alpha_serves(options, helm_args: list[str]) -> None:
    """Before Helm writes a route that leaves the alpha pool traffic (--ga-weight below 100), the checks `shift`
    makes: that pool and its EPP exist, in the namespace Helm installs into (its -n, else HELM_NAMESPACE)."""
    from infgw_postrender.api.mapping import alpha_group, api
    from infgw_postrender.cluster.backends import check_backends
    from infgw_postrender.cluster.kube import Kubectl

    if not options.alpha_pool or options.ga_weight is None or options.ga_weight == 100 or options.templated:
        return
    kubectl = Kubectl.from_options(_helm_flag(helm_args, "--kube-context"), _helm_flag(helm_args, "-n", "--namespace"))
    namespace = kubectl.default_namespace
    ref = {
        "group": alpha_group(),
        "kind": api().pool.kind,
        "name": options.alpha_pool,
        "weight": 100 - options.ga_weight,
        **({"namespace": options.alpha_namespace} if options.alpha_namespace else {}),
    }
    check_backends(
        kubectl,
        namespace,
        [{"backendRefs": [ref]}],
        f"--alpha-pool {options.alpha_pool} --ga-weight {options.ga_weight}: the route",
    )


def _helm_flag(args: list[str], *names: str) -> str | None:
    """The value of one of Helm's own flags among the arguments passed on to it (`-n NS`, `--namespace=NS`)."""
    for position, arg in enumerate(args):
        for name in names:
            if arg == name and position + 1 < len(args):
                return args[position + 1]
            if arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


_chart_command(
    "install",
    """
\b
Example:
  helm infgw-migrate install vllm-ga oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool \\
    --version v1.0.0 -n llm --set inferencePool.modelServers.matchLabels.app=vllm \\
    --alpha-pool vllm --ga-weight 0 --objective food-review=2 --dry-run
""",
)
_chart_command(
    "upgrade",
    """
\b
Example (a pipeline walking the split):
  for weight in 0 50 100; do
    helm infgw-migrate upgrade vllm-ga ./inferencepool --install -n llm --reuse-values --alpha-pool vllm --ga-weight $weight
  done
""",
)

_chart_command(
    "template",
    """
\b
Example (also the generate command of the Argo CD plugin, scripts/argocd/plugin.yaml):
  helm infgw-migrate template vllm-ga ./inferencepool -n llm --alpha-pool vllm --ga-weight 50 -q
""",
)

# the cluster commands, one module per group of them
for module in (detect, traffic, stack, migration):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli.main(prog_name="infgw-migrate")


if __name__ == "__main__":  # how migrate runs its own steps: `python -m infgw_postrender.cli ...`
    main()

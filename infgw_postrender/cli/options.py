"""What the cluster commands share: the options kubectl and Helm users expect (-n, --kube-context, --kubeconfig,
-o), the options of a measured traffic stage (--analysis, --metrics-url), how a command prints, and how `migrate`
runs one of this tool's commands in its own process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from infgw_postrender import defaults
from infgw_postrender.cli.params import DNS_LABEL, DURATION, show_error
from infgw_postrender.cluster.kube import Kubectl, check_kubeconfig, use_kubeconfig
from infgw_postrender.errors import MigrateError
from infgw_postrender.yaml import emitter

CONTEXT = {"help_option_names": ["-h", "--help"]}


def kubeconfig_option(func: Callable) -> Callable:
    """--kubeconfig FILE, as kubectl and Helm take it (a plugin also gets Helm's own as KUBECONFIG); checked before
    anything runs."""

    def use(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
        if value:
            use_kubeconfig(value)

    return click.option("--kubeconfig", metavar="FILE", expose_value=False, is_eager=True, callback=use,
                        help="The kubeconfig file (default: KUBECONFIG, then ~/.kube/config).")(func)  # fmt: skip


def cluster_options(func: Callable) -> Callable:
    """-n/--namespace and --kube-context, as kubectl and helm spell them. Run as a plugin, Helm takes its own -n and
    --kube-context out of the arguments and passes them as HELM_NAMESPACE and HELM_KUBECONTEXT, which
    Kubectl.from_options reads: a command takes its namespace and context from its Kubectl, never from the flags."""
    func = click.option("--kube-context", help="kubeconfig context (default: HELM_KUBECONTEXT, then the current one).")(
        func
    )
    func = kubeconfig_option(func)
    return click.option("-n", "--namespace", type=DNS_LABEL, help="Namespace (default: HELM_NAMESPACE, then default).")(
        func
    )


def output_option(func: Callable) -> Callable:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json", "yaml"]),
        default="table",
        show_default=True,
        help="table for people, json or yaml for scripts.",
    )(func)


def emit(data: Any, output: str, text: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    elif output == "yaml":
        click.echo(emitter.dump(data), nl=False)
    else:
        click.echo(text, nl=False)


def progress(message: str) -> None:
    click.echo(f"... {message}", err=True)


def run_own(args: list[str]) -> int:
    """One of this tool's commands, run in this process: the same commands parse the same arguments that `plan`
    prints and a shell would pass; its exit status, its error shown as the command shows it."""
    root = click.get_current_context().find_root().command  # infgw-migrate, which runs this command

    try:
        code = root.main(args, prog_name="infgw-migrate", standalone_mode=False)
    except click.exceptions.Abort:  # click's form of Ctrl-C
        raise KeyboardInterrupt from None
    except MigrateError as error:
        return show_error(error)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    return code if isinstance(code, int) else 0


def kubectl_for(namespace: str | None, kube_context: str | None, reads: bool = True) -> Kubectl:
    """The user's kubectl; when it `reads` the cluster, once the kubeconfig it would read is known to be there."""
    if reads:
        check_kubeconfig()
    return Kubectl.from_options(kube_context, namespace)


def accept_class_option(func: Callable) -> Callable:
    return click.option(
        "--accept-gateway-class",
        "accepted_classes",
        multiple=True,
        metavar="NAME",
        help="A GatewayClass whose controller is not GKE's, which you know serves inference.networking.k8s.io/v1 "
        "InferencePools (without it, such a Gateway is refused before the first change).",
    )(func)


def analysis_options(func: Callable) -> Callable:
    """The checks of a traffic stage (shift --analysis; migrate passes them on to each stage)."""
    options = [
        click.option(
            "--analysis",
            is_flag=True,
            help="After the Gateway reports the new weights, probe through it and go back to the previous "
            "weights if the probe fails the thresholds (exit 1).",
        ),
        click.option(
            "--analysis-requests",
            type=click.IntRange(1, 10_000),
            default=defaults.ANALYSIS_REQUESTS,
            show_default=True,
            help="Requests to send (one after another, the pool's models in turn).",
        ),
        click.option("--analysis-duration", type=DURATION, help="Probe for this long instead of a number of requests."),
        click.option(
            "--analysis-timeout",
            type=DURATION,
            default=f"{defaults.ANALYSIS_TIMEOUT_S:g}s",
            show_default=True,
            help="The probe stops here whatever is left (a server that never answers fails the stage).",
        ),
        click.option(
            "--min-success",
            type=click.FloatRange(0, 1),
            default=defaults.MIN_SUCCESS,
            show_default=True,
            help="Smallest share of requests answered 200 with choices.",
        ),
        click.option(
            "--max-p95",
            type=DURATION,
            default=f"{defaults.MAX_P95_S:g}s",
            show_default=True,
            help="Largest 95th percentile latency of the answered requests (e.g. 5s, 800ms).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


METRICS_FLAGS = ("metrics_url", "ga_selector", "alpha_selector", "window", "max_error_ratio",
                 "max_error_ratio_increase", "min_requests", "metrics_timeout", "metrics_token_command")  # fmt: skip


def metrics_options(func: Callable) -> Callable:
    """A stage judged from the EPPs' metrics in Prometheus (analyze; shift and migrate after each stage)."""
    options = [
        click.option("--metrics-url", help="Prometheus' HTTP API base (URL/api/v1/query): judge from the EPPs' metrics."),
        click.option("--ga-selector", metavar="LABELS", help="The GA EPP's series (default: its pods, from the cluster)."),
        click.option("--alpha-selector", metavar="LABELS",
                     help="The alpha EPP's series (default: its pods, from the cluster)."),
        click.option("--window", default=defaults.METRICS_WINDOW, show_default=True,
                     help="The window of traffic judged (PromQL duration); a stage waits it first."),
        click.option("--max-error-ratio", type=click.FloatRange(0, 1), default=defaults.MAX_ERROR_RATIO,
                     show_default=True),
        click.option("--max-error-ratio-increase", type=click.FloatRange(0, 1),
                     help="With --alpha-pool: how much GA's error ratio may exceed alpha's."),
        click.option("--min-requests", type=click.IntRange(1), default=defaults.MIN_REQUESTS, show_default=True,
                     help="Fewer requests in the window fail the analysis: no verdict without data."),
        click.option("--metrics-timeout", type=DURATION, default=f"{defaults.METRICS_TIMEOUT_S:g}s",
                     show_default=True),
        click.option("--metrics-token-command", metavar="COMMAND",
                     help="Prints a bearer token (run without a shell); else INFGW_METRICS_TOKEN, if set."),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


def analysis_settings(analysis_requests, analysis_duration, analysis_timeout, min_success, max_p95):
    from infgw_postrender.cluster.analysis import Budget, Thresholds

    budget = Budget(None if analysis_duration else analysis_requests, analysis_duration, analysis_timeout)
    return budget, Thresholds(min_success, max_p95)

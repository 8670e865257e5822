"""The commands that talk to a cluster: detect, crds, objectives, shift, verify, cleanup, restore, plan, migrate.
Each is a thin click wrapper over the plain functions of its module."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import click

from infgw_postrender import defaults
from infgw_postrender.cli.params import DNS_LABEL, DURATION, PERCENT, PERCENTS, Command, show_error
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.kube import Kubectl, check_kubeconfig, use_kubeconfig
from infgw_postrender.cluster.verify import DEFAULT_PROMPT
from infgw_postrender.errors import EXIT_MIGRATION_NEEDED, EXIT_STOPPED, InputError, MigrateError
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
    from infgw_postrender.cli.main import cli

    try:
        code = cli.main(args, prog_name="infgw-migrate", standalone_mode=False)
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


def register(cli: click.Group) -> None:
    for command in (
        detect, crds, objectives, backup, shift, abort, status, analyze, verify, cleanup, restore, plan, migrate,
        rbac,
    ):  # fmt: skip
        cli.add_command(command)


# -- detect --------------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate detect -A                  # every namespace
  helm infgw-migrate detect -n llm -o json --exit-code
  kubectl get crd,inferencepools.inference.networking.x-k8s.io,inferencemodels.inference.networking.x-k8s.io,httproutes,deployments -A -o yaml > snapshot.yaml
  helm infgw-migrate detect --from-file snapshot.yaml --server-version v1.33.5-gke.1080000
""",
)
@cluster_options
@output_option
@click.option("--exit-code", is_flag=True, help=f"Exit {EXIT_MIGRATION_NEEDED} when a migration is needed, 0 when not.")
@click.option(
    "--from-file", type=click.Path(dir_okay=False), help="Read a snapshot (kubectl get ... -o yaml), not a cluster."
)
@click.option("--server-version", help="With --from-file: the cluster's version, for the CRD advice.")
@click.option(
    "-A",
    "--all-namespaces",
    is_flag=True,
    help="Every namespace (the default without -n; run through Helm, which always gives the plugin a "
    "namespace, ask for it).",
)
def detect(namespace, kube_context, output, exit_code, from_file, server_version, all_namespaces) -> None:
    """What is alpha: v1alpha2 pools and models, the routes to them (with weights), inferencepool and
    llm-d-router-gateway Helm releases, the server version and the inference CRDs (and who installed them); and
    the path to take."""
    from infgw_postrender.cluster.detect import read_cluster, read_snapshot, table

    kubectl = kubectl_for(namespace, kube_context, reads=not from_file)
    namespace = None if all_namespaces else kubectl.namespace  # -n, else HELM_NAMESPACE; none: every namespace
    if from_file:
        findings = read_snapshot(from_file, server_version, namespace)
    else:
        findings = read_cluster(kubectl, Helm.from_env(), namespace)
    emit(findings.as_dict(), output, table(findings))
    if exit_code and findings.migration_needed:
        sys.exit(EXIT_MIGRATION_NEEDED)


# -- crds ----------------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate crds --server-version v1.34.1-gke.100     # the decision, without a cluster
  helm infgw-migrate crds --apply                               # download, check, apply, wait until Established
  helm infgw-migrate crds --apply --source /mirror/inference-extension   # air-gapped: a folder laid out as upstream
  helm infgw-migrate crds --server-version v1.35.0-gke.5 --target-version llm-d-router/v0.10.0   # llm-d-router's EPP
""",
)
@click.option("--kube-context", help="kubeconfig context (default: HELM_KUBECONTEXT, then the current one).")
@kubeconfig_option
@output_option
@click.option("--server-version", help="Decide for this version instead of asking the cluster.")
@click.option(
    "--target-version",
    default=defaults.TARGET_VERSION,
    show_default=True,
    help="The release whose CRDs to install: GIE vX.Y.Z (v1.0.0 to v1.6.0 pinned) or llm-d-router/vX.Y.Z "
    "(the v1 InferencePool of GIE v1.6.0 plus its llm-d.ai objective CRDs).",
)
@click.option(
    "--apply", "apply_", is_flag=True, help="Download, check the pinned SHA-256, apply, wait until Established."
)
@click.option("--dry-run", is_flag=True, help="With --apply: download and check, then apply with --dry-run=server.")
@click.option(
    "--source",
    envvar="INFGW_CRD_SOURCE",
    show_envvar=True,
    help="A mirror URL or folder laid out as upstream's paths, instead of github.com.",
)
@click.option("--insecure-unpinned", is_flag=True, help="Accept files this tool has no pinned SHA-256 for.")
@click.option(
    "--timeout", type=DURATION, default="2m", show_default=True, help="How long to wait for Established (90s, 5m)."
)
@click.option("--whole-bundle", is_flag=True, help="A bundle applied half-way is applied again even when only its "
              "v1alpha2 CRDs are missing (the simple path, which deleted the v0.3.0 ones before).")  # fmt: skip
def crds(
    kube_context, output, server_version, target_version, apply_, dry_run, source, insecure_unpinned, timeout,
    whole_bundle,
) -> None:  # fmt: skip
    """Decide which inference CRDs to install (the bundle that holds the v1 InferencePool, or on GKE that serves it
    only the objective CRDs the target's EPP reads), and with --apply install them. A GKE-managed CRD is never
    overwritten. CRDs are cluster-scoped: there is no -n."""
    from infgw_postrender.api.releases import parse_target
    from infgw_postrender.cluster.crds import apply_files, decide, installed, left_behind

    kubectl = kubectl_for(None, kube_context, reads=server_version is None or apply_)
    present: dict[str, str] | None = None  # offline (--server-version alone): the version decides
    left: list[str] = []
    if server_version is None or apply_:
        server_version = server_version or kubectl.server_version()
        present = installed(kubectl, target_version)
        live = {crd["metadata"]["name"]: crd for crd in kubectl.crds()}  # the same read (one burst)
        left = left_behind(live, parse_target(target_version), whole_bundle)
    decision = decide(server_version, present, target_version, left)
    emit(decision.as_dict(), output, decision.text())
    if not apply_ or not decision.files:
        return
    apply_files(kubectl, decision, source, insecure_unpinned, timeout, progress, dry_run)
    if not dry_run:
        progress("all Established")


# -- objectives ----------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Example:
  helm infgw-migrate objectives -n llm --alpha-pool vllm --ga-pool vllm-ga            # print them
  helm infgw-migrate objectives -n llm --alpha-pool vllm --ga-pool vllm-ga --apply
""",
)
@cluster_options
@click.option(
    "--alpha-pool", type=DNS_LABEL, required=True, help="The alpha InferencePool whose InferenceModels to carry over."
)
@click.option("--ga-pool", type=DNS_LABEL, required=True, help="The GA InferencePool the objectives point at.")
@click.option("--priority-map", metavar="Critical=2,Standard=1,Sheddable=-1", help="Criticality to priority.")
@click.option(
    "--target-version",
    default=defaults.TARGET_VERSION,
    show_default=True,
    help="GIE v1.3.0 to v1.5.0 add InferenceModelRewrites (its EPP acts on them); llm-d-router/vX.Y.Z "
    "writes both in llm-d.ai.",
)
@click.option("--apply", "apply_", is_flag=True, help="Apply them (kubectl apply) instead of printing.")
@click.option("--dry-run", is_flag=True, help="With --apply: kubectl apply --dry-run=server.")
def objectives(namespace, kube_context, alpha_pool, ga_pool, priority_map, target_version, apply_, dry_run) -> None:
    """InferenceObjectives (and InferenceModelRewrites) for the GA pool from the alpha pool's InferenceModels,
    with the post-renderer's report on stderr."""
    from infgw_postrender.cluster.objectives import objectives_from_cluster

    kubectl = kubectl_for(namespace, kube_context)
    text, report = objectives_from_cluster(kubectl, alpha_pool, ga_pool, priority_map, target_version)
    click.echo(report, err=True, nl=False)
    if apply_:
        click.echo(kubectl.apply(text, "apply the InferenceObjectives", dry_run=dry_run), nl=False)
    else:
        click.echo(text, nl=False)


# -- shift ---------------------------------------------------------------------------------------------------
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


def _analysis_settings(analysis_requests, analysis_duration, analysis_timeout, min_success, max_p95):
    from infgw_postrender.cluster.analysis import Budget, Thresholds

    budget = Budget(None if analysis_duration else analysis_requests, analysis_duration, analysis_timeout)
    return budget, Thresholds(min_success, max_p95)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate shift -n llm --route llm-route --alpha-pool vllm --ga-pool vllm-ga --ga-weight 50 --dry-run
  helm infgw-migrate shift -n llm --route llm-route --alpha-pool vllm --ga-pool vllm-ga --ga-weight 50 --wait
  helm infgw-migrate shift -n llm --route llm-route --alpha-pool vllm --ga-pool vllm-ga --ga-weight 0   # back
  helm infgw-migrate shift -n llm --route llm-route --alpha-pool vllm --ga-pool vllm-ga --ga-weight 25 \\
    --analysis --analysis-requests 50 --max-p95 3s -o json
""",
)
@cluster_options
@output_option
@click.option("--route", "route_name", type=DNS_LABEL, required=True, help="The live HTTPRoute.")
@click.option("--alpha-pool", type=DNS_LABEL, required=True)
@click.option("--ga-pool", type=DNS_LABEL, required=True)
@click.option("--ga-weight", type=PERCENT, required=True, help="Percentage for the GA pool, 0 to 100.")
@click.option("--dry-run", is_flag=True, help="Print the change as a diff; change nothing.")
@click.option(
    "--force",
    is_flag=True,
    help="Write the weights at once, without waiting for the Gateway to accept the GA pool (never past "
    "the check that every pool with traffic exists).",
)
@click.option("--wait", is_flag=True, help="Wait until the route reports Accepted and ResolvedRefs for the change.")
@click.option(
    "--timeout",
    type=DURATION,
    default="5m",
    show_default=True,
    help="How long to wait for the Gateway to accept the GA pool, and for --wait (90s, 5m).",
)
@accept_class_option
@analysis_options
@metrics_options
@click.option("--url", help="With --analysis: probe this URL instead of the Gateway's address.")
@click.option("--port", default=80, show_default=True, help="With --analysis: the Gateway's port.")
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="MODEL[=OBJECTIVE]",
    help="With --analysis: a model to ask, and its objective (default: the alpha pool's models).",
)
def shift(
    namespace,
    kube_context,
    output,
    route_name,
    alpha_pool,
    ga_pool,
    ga_weight,
    dry_run,
    force,
    wait,
    timeout,
    accepted_classes,
    analysis,
    url,
    port,
    models,
    **checks,
) -> None:
    """Rewrite the live HTTPRoute's backendRefs for the alpha and GA pools only (matches, filters and other
    backends stay). Refused, with nothing changed, when a pool that would get traffic (or its EPP) is missing.
    A route that does not reference the GA pool yet gets it at weight 0 first; the weights follow once the
    Gateway has accepted the pool (unless --force). With --analysis the stage measures itself and goes back
    to the weights it started from when the probe fails."""
    from infgw_postrender.cluster.shift import shift as run_shift
    from infgw_postrender.cluster.shift import wait_accepted

    kubectl = kubectl_for(namespace, kube_context)
    metrics = {flag: checks.pop(flag) for flag in METRICS_FLAGS}
    if (analysis or metrics["metrics_url"]) and not dry_run:
        judge = (
            _metrics_judge(kubectl, ga_pool, alpha_pool, checks["max_p95"], metrics) if metrics["metrics_url"] else None
        )
        _analysed_shift(
            kubectl, output, route_name, alpha_pool, ga_pool, ga_weight, force, timeout, url, port, models, checks,
            analysis, judge, accepted_classes,
        )  # fmt: skip
        return
    result = run_shift(
        kubectl, route_name, alpha_pool, ga_pool, ga_weight, dry_run, force, timeout, progress, accepted_classes
    )
    nothing = f"HTTPRoute {result.route} already sends {ga_weight}% to {ga_pool}; nothing to change\n"
    if output == "table":
        click.echo(result.diff or nothing, nl=False)
    for step in result.steps:
        click.echo(f"HTTPRoute {result.route}: {step}", err=True)
    if result.applied and wait:
        wait_accepted(kubectl, route_name, result.generation, timeout, progress)
        click.echo(f"HTTPRoute {result.route}: Accepted and ResolvedRefs", err=True)
    if output != "table":
        emit(
            {
                "route": result.route,
                "weight": ga_weight,
                "applied": result.applied,
                "diff": result.diff,
                "steps": result.steps,
            },
            output,
            "",
        )


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Example:
  helm infgw-migrate abort -n llm --route llm-route --alpha-pool vllm --ga-pool vllm-ga
""",
)
@cluster_options
@output_option
@click.option("--route", "route_name", type=DNS_LABEL, default=defaults.ROUTE, show_default=True)
@click.option("--alpha-pool", type=DNS_LABEL, required=True)
@click.option("--ga-pool", type=DNS_LABEL, required=True)
@click.option("--timeout", type=DURATION, default="5m", show_default=True, help="How long to wait for the Gateway.")
def abort(namespace, kube_context, output, route_name, alpha_pool, ga_pool, timeout) -> None:
    """Send all traffic back to the alpha pool at once, and wait until the Gateway reports it. Refused (exit 3,
    nothing changed) once the alpha pool is gone or its Gateway does not accept it; run again, it changes
    nothing."""
    from infgw_postrender.cluster.shift import abort as run_abort
    from infgw_postrender.cluster.shift import wait_accepted

    kubectl = kubectl_for(namespace, kube_context)
    result = run_abort(kubectl, route_name, alpha_pool, ga_pool, timeout, progress)
    for step in result.steps:
        click.echo(f"HTTPRoute {result.route}: {step}", err=True)
    if result.applied:
        wait_accepted(kubectl, route_name, result.generation, timeout, progress)
        click.echo(f"HTTPRoute {result.route}: Accepted and ResolvedRefs", err=True)
    said = f"HTTPRoute {result.route}: all traffic on the alpha pool {alpha_pool}" + (
        "" if result.applied else " already"
    )
    emit({"route": result.route, "applied": result.applied, "diff": result.diff}, output, result.diff + said + "\n")


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate status -n llm --alpha-pool vllm
  helm infgw-migrate status -n llm --alpha-pool vllm --watch          # Ctrl-C ends it
  helm infgw-migrate status -n llm --alpha-pool vllm --watch | tee migration.log   # a line per change
""",
)
@cluster_options
@click.option("--route", "route_name", type=DNS_LABEL, default=defaults.ROUTE, show_default=True)
@click.option("--alpha-pool", type=DNS_LABEL, required=True)
@click.option("--ga-pool", type=DNS_LABEL, help="The GA pool (default: the GA pool the route sends traffic to; "
              "else one named ALPHA-POOL, the simple path's; else ALPHA-POOL-ga).")  # fmt: skip
@click.option("--state-dir", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where migrate keeps this migration's state: its `next:` line is the command migrate saved.")  # fmt: skip
@click.option("--watch", is_flag=True, help="Keep reading: in place on a terminal, a line per change otherwise.")
@click.option("--interval", type=DURATION, default="2s", show_default=True, help="With --watch: between reads.")
@click.option("-o", "--output", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="json: one object (with --watch, one a line per change).")  # fmt: skip
def status(namespace, kube_context, route_name, alpha_pool, ga_pool, state_dir, watch, interval, output) -> None:
    """One migration as the cluster has it now: the stage (from the route's weights; finished once the alpha stack
    is gone, as migrate judges it), the route's conditions, each pool and its EPP's readiness, what would stop
    traffic, and `next:` the command that goes on (or back). Exit 2 when the route sends traffic to neither
    pool (a typo, a wrong -n): it names the pools it does send traffic to. With --watch it goes on until Ctrl-C
    (exit 0)."""
    from infgw_postrender.cluster import waits
    from infgw_postrender.cluster.status import default_ga_pool, judge, read_status

    kubectl = kubectl_for(namespace, kube_context)
    ga_pool = ga_pool or default_ga_pool(kubectl, route_name, alpha_pool)
    terminal = sys.stdout.isatty() and output == "table"
    shown = None
    try:
        while True:
            found = read_status(kubectl, route_name, alpha_pool, ga_pool)
            judge(found, kubectl, Helm.from_env(), alpha_pool, ga_pool, state_dir)
            text = (
                json.dumps(found.as_dict())
                if output == "json"
                else (found.table() if terminal or not watch else found.line())
            )
            if not watch:
                click.echo(text, nl=not text.endswith("\n"))
                return
            if text != shown:
                # on a terminal the view is drawn again in place; in a log, a line for each change
                click.echo(("\x1b[H\x1b[2J" + text) if terminal else text, nl=not terminal)
                shown = text
            waits.sleep(interval)
    except KeyboardInterrupt:
        return


def _analysed_shift(
    kubectl, output, route_name, alpha_pool, ga_pool, ga_weight, force, timeout, url, port, models, checks, probe, judge,
    accepted_classes,
) -> None:  # fmt: skip
    from infgw_postrender.cluster.analysis import AnalysisFailed, analysed_shift, parse_target

    budget, thresholds = _analysis_settings(**checks)
    targets = [parse_target(model) for model in models] or None
    try:
        stage = analysed_shift(
            kubectl,
            route_name,
            alpha_pool,
            ga_pool,
            ga_weight,
            url,
            port,
            targets,
            budget,
            thresholds,
            timeout,
            progress,
            force,
            probe,
            judge,
            accepted_classes,
        )
    except AnalysisFailed as failed:
        _show_stage(failed.stage, thresholds, output)
        raise
    _show_stage(stage, thresholds, output)


def _show_stage(stage, thresholds, output: str) -> None:
    record = stage.as_record(thresholds)
    verdict = "passed" if stage.failure is None else f"FAILED: {stage.failure}"
    figures = stage.analysis.figures() if stage.analysis else "not probed"
    if stage.metrics is not None:
        figures += f"; metrics {'passed' if stage.metrics.passed else 'failed'}"
    back = f"; back at GA weight {stage.previous}" if stage.rolled_back else ""
    emit(
        record,
        output,
        f"{stage.shifted.diff}stage {stage.shifted.weight}% of HTTPRoute {stage.shifted.route}: "
        f"{verdict} ({figures}; {thresholds.describe()}){back}\n",
    )


# -- verify --------------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate verify --gateway inference-gateway --model food-review
  helm infgw-migrate verify --url http://10.0.0.8/v1/completions --model food-review -o json
""",
)
@cluster_options
@output_option
@click.option("--gateway", default=defaults.GATEWAY, show_default=True)
@click.option("--model", required=True, help="The model to ask (a modelName of the pool's InferenceModels).")
@click.option("--prompt", default=DEFAULT_PROMPT, show_default=True)
@click.option("--url", help="Ask this URL instead of the Gateway's address (no cluster read).")
@click.option("--port", default=80, show_default=True)
@click.option("--timeout", type=DURATION, default="30s", show_default=True, help="How long the completion may take.")
def verify(namespace, kube_context, output, gateway, model, prompt, url, port, timeout) -> None:
    """The guide's check: the Gateway is PROGRAMMED and has an address, and POST /v1/completions answers 200."""
    from infgw_postrender.cluster.verify import VerifyFailed
    from infgw_postrender.cluster.verify import verify as run_verify

    kubectl = None if url else kubectl_for(namespace, kube_context)
    verdict = run_verify(kubectl, gateway, url, port, model, prompt, timeout)
    latency = f"{verdict.latency_ms:.0f} ms" if verdict.latency_ms is not None else "-"
    emit(
        asdict(verdict),
        output,
        f"gateway {gateway}: {_programmed(verdict.programmed)}, address {verdict.address or '-'}\n"
        f"POST {verdict.url or '-'}: {verdict.status or '-'} in {latency}: {verdict.detail}\n",
    )
    if not verdict.ok:
        raise VerifyFailed(f"verify: {f'POST {verdict.url}: ' if verdict.url else ''}{verdict.detail}")


def _programmed(programmed: bool | None) -> str:
    return {True: "PROGRAMMED", False: "not PROGRAMMED", None: "not read (--url)"}[programmed]


# -- backup, cleanup and restore -----------------------------------------------------------------------------
def _state_key(kubectl: Kubectl, alpha_pool: str):
    from infgw_postrender.cluster.state import state_key

    return state_key(kubectl, kubectl.default_namespace, alpha_pool)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate backup -n llm --alpha-pool vllm --route llm-route
  helm infgw-migrate backup -n llm --alpha-pool vllm --file vllm-backup.yaml --models vllm-models.yaml
""",
)
@cluster_options
@click.option("--alpha-pool", type=DNS_LABEL, required=True, help="The alpha InferencePool whose stack to back up.")
@click.option(
    "--route", "routes", type=DNS_LABEL, multiple=True, help="An HTTPRoute to keep in the backup too (repeatable)."
)
@click.option("--file", "backup_path", help="The backup (default: CLUSTER.NAMESPACE.POOL.backup.yaml here).")
@click.option("--models", "models_path", help="Also write the pool's InferenceModels alone, for --objectives-from.")
def backup(namespace, kube_context, alpha_pool, routes, backup_path, models_path) -> None:
    """Back up everything removing the alpha stack would delete (its Helm release's objects and records, the
    pool, its InferenceModels and EPP) and the routes named: added to what the file holds already, never
    dropped. Files are mode 0600: they hold Secrets."""
    from infgw_postrender.cluster.cleanup import BACKUP, backup_alpha

    kubectl = kubectl_for(namespace, kube_context)
    key = _state_key(kubectl, alpha_pool)
    for line in backup_alpha(
        kubectl, Helm.from_env(), key, list(routes), backup_path or str(key.path(".", BACKUP)), models_path
    ):
        progress(line)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --ga-pool vllm-ga --dry-run
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --ga-pool vllm-ga --backup alpha-backup.yaml --delete-crds
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --with-downtime --delete-unused-crds   # the simple path
  helm infgw-migrate restore alpha-backup.yaml
""",
)
@cluster_options
@click.option("--alpha-pool", type=DNS_LABEL, required=True)
@click.option("--ga-pool", type=DNS_LABEL, help="The GA pool that must be serving before anything is deleted.")
@click.option(
    "--backup",
    "backup_path",
    help="Made to hold every object before any is deleted (default: CLUSTER.NAMESPACE.POOL.backup.yaml here).",
)
@click.option(
    "--delete-crds",
    is_flag=True,
    help="Also delete the v1alpha2 CRDs; refused while any object of them is left anywhere.",
)
@click.option(
    "--delete-unused-crds",
    is_flag=True,
    help="Delete the v1alpha2 CRDs when no object of them is left anywhere; keep them (and say why) otherwise.",
)
@click.option(
    "--with-downtime",
    is_flag=True,
    help="The simple path: remove the alpha stack while it still serves (the outage starts here); no route "
    "or GA pool check.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; write and delete nothing.")
@click.option(
    "--timeout",
    type=DURATION,
    default="1m",
    show_default=True,
    help="How long to wait for what was deleted to be gone (a finalizer holds an object until its "
    "controller removes it).",
)
def cleanup(
    namespace,
    kube_context,
    alpha_pool,
    ga_pool,
    backup_path,
    delete_crds,
    delete_unused_crds,
    with_downtime,
    dry_run,
    timeout,
) -> None:
    """Remove the alpha stack (helm uninstall of its release, or the pool, its InferenceModels and EPP), once the
    backup holds every object to delete (kind, namespace, name and uid). Refuses while any HTTPRoute routes to
    the alpha pool or while the GA pool is not serving, unless --with-downtime."""
    from infgw_postrender.cluster.cleanup import BACKUP, plan_cleanup, run_cleanup

    kubectl = kubectl_for(namespace, kube_context)
    helm = Helm.from_env()
    crds_mode = "always" if delete_crds else "unused" if delete_unused_crds else None
    cleanup_plan = plan_cleanup(kubectl, helm, alpha_pool, ga_pool, crds_mode, with_downtime)
    if dry_run or not (cleanup_plan.objects or cleanup_plan.crds):
        # what is deleted is said once: as a plan here, or as it is done below
        for line in cleanup_plan.describe() or ["nothing to delete: the alpha pool is gone"]:
            click.echo(("would " if dry_run else "") + line)
        return
    if cleanup_plan.crds_kept:
        progress(f"keep the v1alpha2 CRDs: {cleanup_plan.crds_kept}")
    key = _state_key(kubectl, alpha_pool)
    for line in run_cleanup(
        kubectl, helm, cleanup_plan, key, backup_path or str(key.path(".", BACKUP)), progress, timeout
    ):
        progress(line)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Example:
  helm infgw-migrate restore infgw-alpha-backup.yaml
""",
)
@cluster_options
@click.argument("backup", type=click.Path(dir_okay=False))
def restore(namespace, kube_context, backup) -> None:
    """Create again what a cleanup backup holds (CRDs first); objects that exist are left as they are."""
    from infgw_postrender.cluster.cleanup import restore as run_restore

    for line in run_restore(kubectl_for(namespace, kube_context), backup):
        click.echo(line)


# -- plan and migrate ----------------------------------------------------------------------------------------
def _path_options(func: Callable) -> Callable:
    options = [
        click.option("--path", "path_name", type=click.Choice(["simple", "zero-downtime"]), required=True),
        click.option("--alpha-pool", type=DNS_LABEL, required=True),
        click.option(
            "--ga-release",
            type=DNS_LABEL,
            help="The GA release (default: ALPHA-POOL-ga; on the simple path ALPHA-POOL).",
        ),
        click.option("--chart", default=defaults.CHART, show_default=True),
        click.option(
            "--chart-version",
            help="The GA chart's release (default: v1.0.0 for inferencepool, the guide's; v0.10.0 for "
            "llm-d-router-gateway); the CRD step installs what this release needs.",
        ),
        click.option("--route", "route_name", type=DNS_LABEL, default=defaults.ROUTE, show_default=True),
        click.option("--gateway", default=defaults.GATEWAY, show_default=True, help="NAME or NAMESPACE/NAME."),
        click.option("--stages", type=PERCENTS, default="", help="Weights to walk (zero-downtime), e.g. 0,50,100."),
        click.option(
            "--set",
            "chart_values",
            multiple=True,
            help="Values for the GA chart (repeatable). The selector and target port default to the alpha "
            "pool's, provider.name to gke on GKE.",
        ),
        click.option(
            "--crd-source",
            envvar="INFGW_CRD_SOURCE",
            show_envvar=True,
            help="A mirror URL or folder for the CRD files (see crds --source).",
        ),
        click.option("--model", help="Model for the verify step (default: a model of the alpha pool)."),
        click.option("--verify-url", help="URL for the verify step instead of the Gateway's address."),
        click.option(
            "--state-dir",
            default=".",
            show_default=True,
            type=click.Path(file_okay=False),
            help="Where the InferenceModels export and the backup are written (made 0700 if missing); "
            "their names hold the cluster (server and kube-system uid), namespace and pool.",
        ),
        click.option(
            "--delete-crds",
            is_flag=True,
            help="Zero-downtime: end by deleting the v1alpha2 CRDs, once no object of them is left anywhere.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return accept_class_option(analysis_options(metrics_options(func)))


def _plan_rows(found, states: list[str]) -> list[dict]:
    return [
        {"step": n, "key": step.key, "title": step.title, "state": state, "command": step.command, "argv": step.argv}
        for (n, step), state in zip(enumerate(found, 1), states, strict=True)
    ]


def _plan_text(settings, found, states: list[str]) -> str:
    lines = [f"note: {note}\n" for note in settings.notes]
    lines += [f"{n}. [{state}] {step.title}\n   {step.command}\n" for (n, step), state in zip(enumerate(found, 1), states, strict=True)]  # fmt: skip
    if states and all(state != "pending" for state in states):
        lines.append("nothing to do: every step that changes the cluster is done (the migration is finished); "
                     "migrate would run only its checks\n")  # fmt: skip
    return "".join(lines)


def _prepared(options: dict, from_file: str | None = None, server_version: str | None = None):
    """(settings, steps, the state of each step) for `plan` and `migrate`: one judgement of where the migration
    stands, from the cluster (or a snapshot), made before anything changes. Each step's state is what `migrate`
    judges it by before running it: done, pending, or check (changes nothing, runs every time)."""
    from infgw_postrender.cluster.access import missing
    from infgw_postrender.cluster.detect import read_cluster, read_snapshot
    from infgw_postrender.cluster.steps import describe_crds, is_done, prepare, read_and_prepare, steps

    settings = _settings(**options, reads=not from_file)
    kubectl, helm = settings.kubectl, Helm.from_env()
    if from_file:
        findings = read_snapshot(from_file, server_version, settings.namespace)
        pools = {p["name"]: p for p in findings.alpha_pools if p["namespace"] == settings.namespace}
        if settings.alpha_pool not in pools:
            raise InputError(
                f"--alpha-pool {settings.alpha_pool}: no such v1alpha2 InferencePool in {settings.namespace} "
                f"(found: {', '.join(pools) or 'none'})"
            )
        entry = pools[settings.alpha_pool]
        pool = {"spec": {"selector": entry["selector"], "targetPortNumber": entry["target_port"]}}
        models = [
            {"spec": {"modelName": m["model_name"]}}
            for m in findings.alpha_models
            if (m["namespace"], m["pool"]) == (settings.namespace, settings.alpha_pool)
        ]
        settings = replace(prepare(settings, pool, findings.server_version, None, {}, models), kubectl=None)
        found = steps(settings, kubectl, helm)
        states = ["from a snapshot"] * len(found)
    else:
        refused = missing(kubectl, settings.namespace)
        settings = read_and_prepare(settings, kubectl, helm)
        if refused:
            denied = "; ".join(f"{', '.join(verbs)} {resource}" for resource, verbs in refused.items())
            settings.notes.append(f"migrate will be refused (exit 3): you may not {denied}")
        findings = read_cluster(kubectl, helm, settings.namespace)
        found = steps(settings, kubectl, helm)
        # as run_steps asks: done first (a check is skipped once its step is done), then a check, else pending
        states = ["done" if is_done(step) else "check" if step.check else "pending" for step in found]
    if any(m["namespace"] == settings.namespace and m["pool"] == settings.alpha_pool for m in findings.alpha_models):
        settings.notes.append(findings.model_routing)
    for step in found:
        if step.key == "crds":
            step.title += f": {describe_crds(findings, settings.target_version)}"
    return settings, found, states


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate plan -n llm --path zero-downtime --alpha-pool vllm --stages 0,50,100
  helm infgw-migrate plan -n llm --path simple --alpha-pool vllm -o json     # each step done or pending
""",
)
@cluster_options
@output_option
@_path_options
@click.option(
    "--from-file", type=click.Path(dir_okay=False), help="Plan from a snapshot (see detect) instead of a cluster."
)
@click.option("--server-version", help="With --from-file: the cluster's version, for the CRD step.")
def plan(output, from_file, server_version, **options) -> None:
    """The guide's steps for this cluster, each the exact command `migrate` runs, and whether the cluster shows it
    done (judged as `migrate` judges it); on a finished migration, that there is nothing to do. Changes nothing."""
    settings, found, states = _prepared(options, from_file, server_version)
    emit({"notes": settings.notes, "steps": _plan_rows(found, states)}, output, _plan_text(settings, found, states))


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate migrate -n llm --path zero-downtime --alpha-pool vllm --stages 0,50,100
  helm infgw-migrate migrate -n llm --path zero-downtime --alpha-pool vllm --stages 0,50   # stops at 50%: exit 5
  helm infgw-migrate migrate -n llm --path simple --alpha-pool vllm --dry-run
""",
)
@cluster_options
@_path_options
@click.option("--dry-run", is_flag=True, help="Print the steps (as plan does); run nothing.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: one JSON object a line on stdout for each step (done-already, stopped, start, end) and, after a "
    "traffic stage, the route's weights; the steps' own output is left out (stderr is as with table).",
)
def migrate(dry_run, output, **options) -> None:
    """Run the guide's steps in order, each as the command `plan` prints. Each step is judged done from the
    cluster: after a failure, or on another day, the same command goes on from where the cluster is. Traffic
    only moves toward GA; zero-downtime stops before each traffic stage unless --stages names the weights.
    Before anything is read, the server is asked for every permission of the path (exit 3 naming what is
    missing). Exit 0: finished; 5: stopped on purpose short of the end (it prints the command that goes on)."""
    from infgw_postrender.cluster.access import check as check_access
    from infgw_postrender.cluster.steps import (  # fmt: skip
        go_on_command,
        next_stages,
        own_command,
        read_and_prepare,
        run_steps,
        save_run,
        steps,
    )

    if dry_run:
        settings, found, states = _prepared(options)
        click.echo(_plan_text(settings, found, states), nl=False)
        return
    settings = _settings(**options)
    kubectl, helm = settings.kubectl, Helm.from_env()
    check_access(kubectl, settings.namespace, own_command())  # before anything is read: a user without a right
    argv = click.get_current_context().meta.get("argv", [])
    settings = replace(read_and_prepare(settings, kubectl, helm), command=go_on_command(settings, argv))
    found = steps(settings, kubectl, helm)
    for note in settings.notes:
        progress(note)

    started: dict[str, str] = {}

    def event(record: dict) -> None:
        from infgw_postrender.cluster.steps import stage_outcome

        if record["key"].startswith("stage-") and record["event"] == "start":
            started[record["key"]] = datetime.now(UTC).isoformat(timespec="seconds")
        elif record["key"] in started and record["event"] == "end" and record["exit"] in (0, 1):
            # the route as the cluster has it now (back where it was after a failed analysis), and the figures
            weight = int(record["key"].removeprefix("stage-"))
            record.update(stage_outcome(kubectl, settings, weight, started[record["key"]]))
        click.echo(json.dumps(record))

    finished = run_steps(found, progress, run_own, lambda: save_run(settings), event if output == "json" else None)
    if finished and not next_stages(settings):
        progress("all steps done: the migration is finished")
        return
    # stopped on purpose short of the end: one statement, exit 5, with the command that goes on
    where = (
        "before a traffic stage nobody asked for"
        if not finished
        else f"at the last stage asked ({settings.stages[-1]}%)"
    )
    progress(f"stopped {where}: the migration is not finished (exit {EXIT_STOPPED}); to go on: {settings.command}")
    sys.exit(EXIT_STOPPED)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  # GKE: Google Cloud Managed Service for Prometheus, with your gcloud credentials
  helm infgw-migrate analyze -n llm --ga-pool vllm-ga --alpha-pool vllm --max-error-ratio-increase 0.005 \\
    --metrics-url https://monitoring.googleapis.com/v1/projects/PROJECT/location/global/prometheus \\
    --metrics-token-command "gcloud auth print-access-token"
  # any Prometheus, with the series picked by labels (no cluster read)
  infgw-migrate analyze --metrics-url http://127.0.0.1:9090 --ga-pool vllm-ga --ga-selector job=vllm-ga-epp -o json
""",
)
@cluster_options
@click.option("--ga-pool", type=DNS_LABEL, required=True, help="The GA InferencePool the stage sends traffic to.")
@click.option("--alpha-pool", type=DNS_LABEL, help="The alpha InferencePool, to compare error ratios with.")
@metrics_options
@click.option("--max-p95", type=DURATION, default=f"{defaults.MAX_P95_S:g}s", show_default=True,
              help="The slowest 5% of requests must answer within this.")  # fmt: skip
@output_option
def analyze(namespace, kube_context, ga_pool, alpha_pool, max_p95, output, **metrics) -> None:
    """Judge the GA pool from its EPP's metrics in Prometheus, once; change nothing. Exit 0 when every check
    passes, 1 when one fails (named on stderr with its value and threshold), 2 for bad input. No data is a
    failure, never a pass."""
    if not metrics["metrics_url"]:
        raise InputError("--metrics-url: required; give Prometheus' API base URL")
    reads = not metrics["ga_selector"] or bool(alpha_pool and not metrics["alpha_selector"])  # an EPP's pods
    found = _metrics_judge(kubectl_for(namespace, kube_context, reads), ga_pool, alpha_pool, max_p95, metrics).run()
    emit(found.as_dict(), output, _checks_table(found.checks))
    for check in found.checks:
        if not check.passed:
            click.echo(f"failed: {check.line()}", err=True)
    if not found.passed:
        sys.exit(1)


def _checks_table(checks) -> str:
    rows = [f"{'CHECK':<36}{'VALUE':>12}  {'THRESHOLD':<12}RESULT\n"]
    for check in checks:
        value = "-" if check.value is None else f"{check.value:.4g}"
        rows.append(f"{check.name:<36}{value:>12}  {check.threshold:<12}{'ok' if check.passed else 'FAILED'}\n")
    return "".join(rows)


def _metrics_judge(kubectl, ga_pool, alpha_pool, max_p95, metrics: dict):
    """The metric analysis these flags ask for (`metrics`: metrics_options' values)."""
    import os

    from infgw_postrender.cluster.metrics import Limits, judge, token_of

    limits = Limits(metrics["window"], metrics["max_error_ratio"], max_p95, metrics["max_error_ratio_increase"],
                    metrics["min_requests"])  # fmt: skip
    token = token_of(metrics["metrics_token_command"], dict(os.environ))
    return judge(kubectl, metrics["metrics_url"], token, metrics["metrics_timeout"],
                 {"GA": ga_pool, "alpha": alpha_pool},
                 {"GA": metrics["ga_selector"], "alpha": metrics["alpha_selector"]}, limits)  # fmt: skip


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate rbac --subject user:alice@example.com | kubectl apply -f -
  helm infgw-migrate rbac --subject serviceaccount:ci:migrator -o json
""",
)
@click.option(
    "--subject",
    required=True,
    metavar="user:NAME|group:NAME|serviceaccount:NS:NAME",
    help="Who runs the migration: the binding's subject.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def rbac(subject, output) -> None:
    """The least privilege a migration needs: a ClusterRole and its binding, to apply as a cluster admin. `migrate`
    asks the server for each of these permissions before its first change."""
    from infgw_postrender.api.objects import as_list
    from infgw_postrender.cluster.access import manifests
    from infgw_postrender.yaml import emitter

    found = manifests(subject)
    click.echo(
        json.dumps(as_list(found), indent=2) if output == "json" else "---\n".join(map(emitter.dump, found)),
        nl=output == "json",
    )


def _settings(
    namespace,
    kube_context,
    path_name,
    alpha_pool,
    ga_release,
    chart,
    chart_version,
    route_name,
    gateway,
    stages,
    chart_values,
    crd_source,
    model,
    verify_url,
    state_dir,
    delete_crds,
    accepted_classes,
    analysis,
    reads: bool = True,
    **checks,
):
    from infgw_postrender.api.releases import chart_target
    from infgw_postrender.cluster.steps import Settings

    # the simple path removes the alpha release first, so the GA one can take its name (and the route its backend name)
    ga_release = ga_release or (alpha_pool if path_name == "simple" else f"{alpha_pool}{defaults.GA_SUFFIX}")
    kubectl = kubectl_for(namespace, kube_context, reads)
    target = chart_target(chart, chart_version)
    chart_version = chart_version or f"v{target.version}"
    if delete_crds and path_name == "simple":
        raise InputError(
            "--delete-crds: the simple path deletes the v1alpha2 CRDs already, when nothing else uses them"
        )
    metrics = {flag: checks.pop(flag) for flag in METRICS_FLAGS}
    for flag, asked in (("--analysis", analysis), ("--metrics-url", metrics["metrics_url"])):
        if asked and path_name == "simple":
            raise InputError(
                f"{flag}: the simple path has no traffic stages to measure (it moves all traffic at once, "
                "after the outage); use --path zero-downtime"
            )
    return Settings(
        kubectl.default_namespace,
        kubectl.context,
        path_name,
        alpha_pool,
        ga_release,
        chart,
        chart_version,
        target.name,
        route_name,
        gateway,
        list(stages),
        list(chart_values),
        crd_source,
        model,
        verify_url,
        state_dir,
        delete_crds,
        analysis=[
            *(_analysis_argv(verify_url, **checks) if analysis else []),
            *_metrics_argv(metrics, checks, not analysis),
        ],
        accepted_classes=list(accepted_classes),
        kubectl=kubectl,
    )


def _metrics_argv(metrics: dict, checks: dict, with_p95: bool) -> list[str]:
    """The metric analysis as each stage's shift takes it (none without --metrics-url): what plan prints runs."""
    if not metrics["metrics_url"]:
        return []
    argv = ["--metrics-url", metrics["metrics_url"], "--window", metrics["window"],
            "--max-error-ratio", f"{metrics['max_error_ratio']:g}", "--min-requests", str(metrics["min_requests"]),
            "--metrics-timeout", f"{metrics['metrics_timeout']:g}s",
            *(["--max-p95", f"{checks['max_p95']:g}s"] if with_p95 else [])]  # fmt: skip
    for flag in ("ga_selector", "alpha_selector", "metrics_token_command"):
        if metrics[flag]:
            argv += [f"--{flag.replace('_', '-')}", metrics[flag]]
    if metrics["max_error_ratio_increase"] is not None:
        argv += ["--max-error-ratio-increase", f"{metrics['max_error_ratio_increase']:g}"]
    return argv


def _analysis_argv(
    verify_url, analysis_requests, analysis_duration, analysis_timeout, min_success, max_p95
) -> list[str]:
    """The checks as each stage's shift takes them: what plan prints is what runs."""
    size = (
        ["--analysis-duration", f"{analysis_duration:g}s"]
        if analysis_duration
        else ["--analysis-requests", str(analysis_requests)]
    )
    return [
        "--analysis",
        *size,
        "--analysis-timeout",
        f"{analysis_timeout:g}s",
        "--min-success",
        f"{min_success:g}",
        "--max-p95",
        f"{max_p95:g}s",
        *(["--url", verify_url] if verify_url else []),
    ]

"""The commands that move, judge and show traffic: shift, abort, status, verify, analyze."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from infgw_postrender import defaults
from infgw_postrender.cli.options import (
    CONTEXT,
    METRICS_FLAGS,
    accept_class_option,
    analysis_options,
    analysis_settings,
    cluster_options,
    emit,
    kubectl_for,
    metrics_options,
    output_option,
    progress,
)
from infgw_postrender.cli.params import DNS_LABEL, DURATION, PERCENT, Command
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.verify import DEFAULT_PROMPT
from infgw_postrender.errors import InputError


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

    budget, thresholds = analysis_settings(**checks)
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


COMMANDS = (shift, abort, status, verify, analyze)

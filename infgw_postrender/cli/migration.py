"""The guide's paths as one command: plan (what runs, and what is done) and migrate (run it, resumable)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import click

from infgw_postrender import defaults
from infgw_postrender.cli.options import (
    CONTEXT,
    METRICS_FLAGS,
    accept_class_option,
    analysis_options,
    cluster_options,
    emit,
    kubectl_for,
    metrics_options,
    output_option,
    progress,
    run_own,
)
from infgw_postrender.cli.params import DNS_LABEL, PERCENTS, Command
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.errors import EXIT_STOPPED, InputError


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
    from infgw_postrender.cluster.access import check as check_access
    from infgw_postrender.cluster.access import described
    from infgw_postrender.cluster.detect import read_cluster, read_snapshot
    from infgw_postrender.cluster.prepare import prepare, read_and_prepare
    from infgw_postrender.cluster.run import is_done
    from infgw_postrender.cluster.settings import own_command
    from infgw_postrender.cluster.steps import describe_crds, steps

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
        refused = check_access(kubectl, settings.namespace, own_command(), reads_only=True)  # before any read
        settings = read_and_prepare(settings, kubectl, helm)
        if refused:
            settings.notes.append(f"migrate will be refused (exit 3): you may not {described(refused)}")
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
    from infgw_postrender.cluster.prepare import read_and_prepare, save_run
    from infgw_postrender.cluster.run import go_on_command, next_stages, run_steps
    from infgw_postrender.cluster.settings import own_command
    from infgw_postrender.cluster.steps import steps

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
        from infgw_postrender.cluster.judge import stage_outcome

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
    from infgw_postrender.cluster.settings import Settings

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


COMMANDS = (plan, migrate)

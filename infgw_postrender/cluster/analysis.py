"""A traffic stage that measures itself: once the route's Gateway has accepted the new weights, a bounded probe
goes through the Gateway (the guide's completion, for each model of the pool in turn, with the
x-gateway-inference-objective header that a v1 EPP picks the objective from), and its success rate and latency
decide. A stage that fails its thresholds is shifted back to the weights it started from, through the same
checked shift (never toward a pool that is not there), and the command fails saying which stage, with its
figures."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from infgw_postrender import defaults
from infgw_postrender.api.mapping import api
from infgw_postrender.api.objects import pool_of_model
from infgw_postrender.cluster import clock, waits
from infgw_postrender.cluster.backends import ga_share
from infgw_postrender.cluster.cleanup import pool_models
from infgw_postrender.cluster.kube import ClusterError, Kubectl
from infgw_postrender.cluster.metrics import Analysis as MetricsAnalysis
from infgw_postrender.cluster.metrics import Judge
from infgw_postrender.cluster.shift import ShiftResult, read_route, shift, wait_accepted
from infgw_postrender.cluster.verify import DEFAULT_PROMPT, completion, completion_url, gateway_address
from infgw_postrender.errors import InputError, MigrateError


class AnalysisFailed(MigrateError):
    """A stage failed its analysis; the route went back to the stage's starting weights (exit 1)."""

    def __init__(self, message: str, stage: Stage) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass(frozen=True)
class Thresholds:
    min_success: float = defaults.MIN_SUCCESS
    max_p95_s: float = defaults.MAX_P95_S

    def describe(self) -> str:
        return f"success >= {self.min_success:.0%}, p95 <= {self.max_p95_s:g}s"


@dataclass(frozen=True)
class Budget:
    """At most `requests` requests, or for `duration` seconds when given; never past `timeout` seconds."""

    requests: int | None = defaults.ANALYSIS_REQUESTS
    duration: float | None = None
    timeout: float = defaults.ANALYSIS_TIMEOUT_S

    def describe(self) -> str:
        size = f"{self.duration:g}s" if self.duration is not None else f"{self.requests} requests"
        return f"{size} (stops at {self.timeout:g}s)"


@dataclass(frozen=True)
class Target:
    """A model of the pool as a client asks for it: the body's model and the objective header."""

    model: str
    objective: str | None


@dataclass
class StageAnalysis:
    weight: int
    url: str
    sent: int = 0
    succeeded: int = 0
    latencies_ms: list[float] = field(default_factory=list, repr=False)  # of the successful requests
    failures: Counter = field(default_factory=Counter)  # what went wrong -> how often
    stopped: str | None = None  # why the probe stopped before its budget

    @property
    def success_rate(self) -> float | None:
        return self.succeeded / self.sent if self.sent else None

    def percentile(self, share: float) -> float | None:
        """Nearest rank: the smallest latency that `share` of the successful requests do not exceed."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(share * len(ordered)) - 1)]

    def failure(self, thresholds: Thresholds) -> str | None:
        """Why the stage fails its thresholds, or None when it passes."""
        if not self.sent or self.stopped and not self.succeeded:
            return self.stopped or "no request was sent"
        rate = self.succeeded / self.sent  # sent is above 0 here
        if rate < thresholds.min_success:
            return f"success {rate:.1%} < {thresholds.min_success:.0%}"
        p95 = self.percentile(0.95)
        if p95 is not None and p95 > thresholds.max_p95_s * 1000:
            return f"p95 {p95:.0f} ms > {thresholds.max_p95_s * 1000:.0f} ms"
        return None

    def figures(self) -> str:
        rate = f"{self.success_rate:.1%}" if self.success_rate is not None else "-"
        p50, p95 = self.percentile(0.5), self.percentile(0.95)
        latency = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms" if p50 is not None else "no latency (nothing succeeded)"
        errors = (
            f"; failures: {', '.join(f'{n}x {what}' for what, n in self.failures.most_common(3))}"
            if self.failures
            else ""
        )
        return f"{self.sent} sent, {self.succeeded} succeeded ({rate}), {latency}{errors}"

    def as_record(self, thresholds: Thresholds) -> dict:
        return {
            "weight": self.weight,
            "url": self.url,
            "sent": self.sent,
            "succeeded": self.succeeded,
            "success_rate": self.success_rate,
            "p50_ms": self.percentile(0.5),
            "p95_ms": self.percentile(0.95),
            "failures": dict(self.failures),
            "stopped": self.stopped,
            "thresholds": asdict(thresholds),
            "passed": self.failure(thresholds) is None,
            "decided_by": "probe",
        }


def probe(
    url: str,
    targets: list[Target],
    weight: int,
    budget: Budget,
    progress: Callable[[str], None],
    prompt: str = DEFAULT_PROMPT,
) -> StageAnalysis:
    """Requests one after another, the targets in turn, within the budget: never more than it allows."""
    header = api().objective.header
    found = StageAnalysis(weight, url)
    start = clock.current.monotonic()
    deadline = start + budget.timeout
    shown = start
    while budget.requests is None or found.sent < budget.requests:
        now = clock.current.monotonic()
        if budget.duration is not None and now - start >= budget.duration:
            break
        if now >= deadline:
            found.stopped = f"the analysis timeout ({budget.timeout:g}s) passed"
            break
        target = targets[found.sent % len(targets)]
        headers = {header: target.objective} if target.objective else None
        status, latency, detail = completion(url, target.model, prompt, min(deadline - now, 60.0), headers)
        found.sent += 1
        if status == 200 and detail == "answered" and latency is not None:
            found.succeeded += 1
            found.latencies_ms.append(latency)
        else:
            found.failures[detail] += 1
        if clock.current.monotonic() - shown >= 1 or found.sent == budget.requests:
            shown = clock.current.monotonic()
            p95 = found.percentile(0.95)
            progress(
                f"stage {weight}%: {found.sent}{f'/{budget.requests}' if budget.requests else ''} sent, "
                f"{found.success_rate:.1%} ok" + (f", p95 {p95:.0f} ms" if p95 is not None else "")
            )
    return found


def targets_from_cluster(kubectl: Kubectl, alpha_pool: str, ga_pool: str, namespace: str) -> list[Target]:
    """The alpha pool's models (each model's objective has its name), else the GA pool's objectives."""
    models = pool_models(kubectl, alpha_pool, namespace)
    targets = [
        Target((m.get("spec") or {}).get("modelName") or m["metadata"]["name"], m["metadata"]["name"]) for m in models
    ]
    if not targets:
        objectives = kubectl.get([api().cluster.resources.objective], "list InferenceObjectives", namespace)
        targets = [
            Target(o["metadata"]["name"], o["metadata"]["name"]) for o in objectives if pool_of_model(o) == ga_pool
        ]
    if not targets:
        raise InputError(
            f"--analysis: neither the alpha pool {alpha_pool} has InferenceModels nor the GA pool "
            f"{ga_pool} InferenceObjectives to probe; pass --model NAME[=OBJECTIVE]"
        )
    return targets


def parse_target(text: str) -> Target:
    model, _, objective = text.partition("=")
    if not model:
        raise InputError(f"--model {text!r}: expected MODEL or MODEL=OBJECTIVE")
    return Target(model, objective or None)


@dataclass
class Stage:
    shifted: ShiftResult
    previous: int  # the GA weight the route had before: where a failed stage goes back to
    analysis: StageAnalysis | None = None
    rolled_back: ShiftResult | None = None
    failure: str | None = None
    metrics: MetricsAnalysis | None = None

    def as_record(self, thresholds: Thresholds) -> dict:
        return {
            "route": self.shifted.route,
            "weight": self.shifted.weight,
            "previous_weight": self.previous,
            "applied": self.shifted.applied,
            "analysis": self.analysis.as_record(thresholds) if self.analysis else None,
            "metrics": self.metrics.as_dict() if self.metrics else None,
            "failure": self.failure,
            "rolled_back_to": self.previous if self.rolled_back else None,
        }


def analysed_shift(
    kubectl: Kubectl,
    route_name: str,
    alpha_pool: str,
    ga_pool: str,
    weight: int,
    url: str | None,
    port: int,
    targets: list[Target] | None,
    budget: Budget,
    thresholds: Thresholds,
    timeout: float,
    progress: Callable[[str], None],
    force: bool = False,
    probe_it: bool = True,
    judge: Judge | None = None,
    accepted_classes: tuple[str, ...] = (),
) -> Stage:
    """Shift, wait until the route's Gateway reports the change, probe (`probe_it`) and judge the stage from the
    EPPs' metrics once its window of traffic has passed (`judge`), and go back when either fails.

    Raises AnalysisFailed once the route is back (the Stage is its `stage` attribute)."""
    namespace = kubectl.default_namespace
    route = read_route(kubectl, route_name, namespace)
    previous = ga_share(route["spec"].get("rules") or [], alpha_pool, ga_pool) or 0
    targets = (targets or targets_from_cluster(kubectl, alpha_pool, ga_pool, namespace)) if probe_it else []
    shifted = shift(kubectl, route_name, alpha_pool, ga_pool, weight, False, force, timeout, progress, accepted_classes)
    stage = Stage(shifted, previous)
    if stage.shifted.applied:
        wait_accepted(kubectl, route_name, stage.shifted.generation, timeout, progress)
    if weight == 0:
        progress(f"stage 0%: no traffic goes to the GA pool {ga_pool}; nothing to analyse")
        return stage
    if probe_it and url is None:
        gateways = [p.get("name") for p in route["spec"].get("parentRefs") or []]
        programmed, address = gateway_address(kubectl, gateways[0])
        if programmed and address:
            url = completion_url(address, port)
        else:
            stage.failure = (
                f"Gateway {gateways[0]} is {'PROGRAMMED without an address' if programmed else 'not PROGRAMMED'}"
            )
    if probe_it and url is not None:
        progress(f"stage {weight}%: analysing through {url}: {budget.describe()}, {thresholds.describe()}")
        stage.analysis = probe(url, targets, weight, budget, progress)
        stage.failure = stage.analysis.failure(thresholds)
    if judge is not None and stage.failure is None:
        progress(f"stage {weight}%: waiting {judge.limits.window} of traffic, then judging it from the EPPs' metrics "
                 f"in {judge.prometheus.shown}")  # fmt: skip
        waits.sleep(judge.window_seconds)
        stage.metrics = judge.run()
        failing = [check.line() for check in stage.metrics.checks if not check.passed]
        stage.failure = f"metrics: {'; '.join(failing)}" if failing else None
    keep_on_route(kubectl, route_name, namespace, stage, progress)
    figures = stage.analysis.figures() if stage.analysis else ""
    if stage.failure is None:
        progress(f"stage {weight}%: passed: {figures}")
        return stage
    figures = f" ({figures})" if figures else ""
    back = ""
    if previous < weight:
        progress(f"stage {weight}%: failed: {stage.failure}{figures}; going back to GA weight {previous}")
        stage.rolled_back = shift(kubectl, route_name, alpha_pool, ga_pool, previous, False, force, timeout, progress)
        if stage.rolled_back.applied:
            wait_accepted(kubectl, route_name, stage.rolled_back.generation, timeout, progress)
        back = f"; HTTPRoute {namespace}/{route_name} is back at GA weight {previous}"
    raise AnalysisFailed(f"stage {weight}% failed its analysis: {stage.failure}{figures}{back}", stage)


def keep_on_route(
    kubectl: Kubectl, route_name: str, namespace: str, stage: Stage, progress: Callable[[str], None]
) -> None:
    """The stage's verdict and figures, on the route (mapping.yaml's analysis_annotation), before any rollback:
    `status` shows it from the cluster, from any machine. The stage stands on its own analysis, so a route that
    cannot take the note only gets a warning."""
    note = {
        "weight": stage.shifted.weight,
        "passed": stage.failure is None,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "failure": stage.failure,
        "probe": stage.analysis.figures() if stage.analysis else None,
        "metrics": [
            {"name": check.name, "value": _finite(check.value), "threshold": check.threshold, "passed": check.passed}
            for check in stage.metrics.checks
        ]
        if stage.metrics
        else None,
    }
    patch = {"metadata": {"annotations": {api().analysis_annotation: json.dumps(note, separators=(",", ":"))}}}
    try:
        kubectl.patch_merge(api().cluster.resources.route, route_name, namespace, patch, "note the stage's analysis")
    except ClusterError as error:
        progress(f"warning: the analysis is not kept on HTTPRoute {namespace}/{route_name}: {error}")


def last_analysis(route: dict) -> dict | None:
    """The last analysed stage's note on a live route (keep_on_route), or None."""
    text = ((route.get("metadata") or {}).get("annotations") or {}).get(api().analysis_annotation)
    try:
        note = json.loads(text) if text else None
    except ValueError:
        return None  # edited by hand into something else: no note, rather than a wrong one
    return note if isinstance(note, dict) else None


def describe_analysis(note: dict) -> str:
    """One line of a stage's note, for people."""
    verdict = "passed" if note.get("passed") else f"FAILED: {note.get('failure')}"
    figures = [note["probe"]] if note.get("probe") else []
    figures += [f"{check['name']} {_value(check.get('value'))}" for check in note.get("metrics") or []]
    return f"stage {note.get('weight')}% at {note.get('at')}: {verdict}" + (
        f" ({'; '.join(figures)})" if figures else ""
    )


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: a value that is not a number is no value (its check has failed, saying why)."""
    return value if value is not None and math.isfinite(value) else None


def _value(value: float | None) -> str:
    return "no value" if value is None else f"{value:g}"

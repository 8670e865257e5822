"""A stage judged from the EPPs' own metrics, as Prometheus holds them (Google Cloud Managed Service for Prometheus
answers the same HTTP API): the GA pool's error ratio, p95 latency, requests and ready pods over a window, and its
error ratio against the alpha pool's. Fail closed: no series, NaN, too few requests, an error from Prometheus or
no answer in time fails the check and says which; the lack of data never passes.

The metric names are those of every EPP release (mapping.yaml `epp.metrics`). Each side's series are picked by a
selector: by default the EPP Deployment's pods as Prometheus labels them (namespace, pod), read from the pool on
the cluster; `--ga-selector`/`--alpha-selector` replace it."""

from __future__ import annotations

import math
import re
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from infgw_postrender import defaults
from infgw_postrender.api.mapping import api
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.errors import InputError

_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_WINDOW = re.compile(r"^[0-9]+(ms|s|m|h|d)$")


@dataclass(frozen=True)
class Limits:
    window: str = defaults.METRICS_WINDOW
    max_error_ratio: float = defaults.MAX_ERROR_RATIO
    max_p95_s: float = defaults.MAX_P95_S
    max_error_ratio_increase: float | None = None  # GA's error ratio may exceed alpha's by at most this
    min_requests: int = defaults.MIN_REQUESTS


@dataclass
class Check:
    name: str
    query: str
    value: float | None
    threshold: str
    passed: bool
    why: str | None = None  # when it failed: what was wrong (no data, a Prometheus error, the value)

    def line(self) -> str:
        value = "no value" if self.value is None else f"{self.value:g}"
        return f"{self.name}: {value} (threshold {self.threshold}){f': {self.why}' if self.why else ''}"


@dataclass
class Analysis:
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.passed for check in self.checks)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "checks": [asdict(check) for check in self.checks]}


class NoData(Exception):
    """A query that gave no number to judge by: why."""


class Prometheus:
    """Prometheus' HTTP API (`URL/api/v1/query`), with a bearer token when one is given. Errors never carry the
    token, nor credentials written into the URL."""

    def __init__(self, url: str, token: str | None, timeout: float) -> None:
        parts = urlsplit(url.rstrip("/"))
        # credentials in the URL are basic auth, used when no token is given; they are never part of a message
        self.basic = (parts.username or "", parts.password or "") if parts.username else None
        self.url = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        self.token, self.timeout = token, timeout
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--metrics-url {self.shown}: not an http(s) URL; give Prometheus' API base URL")

    @property
    def shown(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"

    def value(self, query: str) -> float:
        """The one number an instant query gives; NoData when it gives none, or no finite one."""
        import requests

        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            answer = requests.post(f"{self.url}/api/v1/query", data={"query": query}, headers=headers,
                                   auth=None if self.token else self.basic, timeout=self.timeout)  # fmt: skip
        except requests.Timeout:
            raise NoData(f"no answer from {self.shown} within {self.timeout:g}s (--metrics-timeout)") from None
        except requests.RequestException as exc:
            raise NoData(f"{self.shown}: {type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            raise NoData(f"{self.shown} answered {answer.status_code} without JSON") from None
        if answer.status_code != 200 or body.get("status") != "success":
            raise NoData(f"Prometheus: {body.get('errorType', answer.status_code)}: {body.get('error', '')}".strip())
        result = (body.get("data") or {}).get("result")
        if (body.get("data") or {}).get("resultType") == "scalar":
            result = [{"value": result}]
        if not result:
            raise NoData("no series: nothing matched the selector in the window")
        if len(result) > 1:
            raise NoData(f"{len(result)} series where one was expected")
        number = float(result[0]["value"][1])
        if not math.isfinite(number):
            raise NoData(f"{result[0]['value'][1]}: no requests to measure in the window")
        return number


def token_of(command: str | None, environ: dict) -> str | None:
    """INFGW_METRICS_TOKEN, or the output of --metrics-token-command (an argv, run without a shell)."""
    if command:
        argv = shlex.split(command)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InputError(f"--metrics-token-command: cannot run {argv[0]} ({exc})") from None
        if done.returncode != 0 or not done.stdout.strip():
            raise InputError(f"--metrics-token-command: {argv[0]} exited {done.returncode} without a token")
        return done.stdout.strip()
    return environ.get("INFGW_METRICS_TOKEN") or None


def selector(text: str, flag: str) -> str:
    """PromQL label matchers from `key=value,key2=value2`, or matchers written out (`job="ga",pod=~"x.*"`)."""
    if '"' in text:
        return text
    matchers = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, equals, value = part.partition("=")
        if not equals or not _LABEL.match(key):
            raise InputError(f"{flag} {text!r}: expected labels such as namespace=llm,pod=vllm-epp-abc")
        matchers.append(f'{key}="{_escaped(value)}"')
    if not matchers:
        raise InputError(f"{flag} {text!r}: no label given")
    return ",".join(matchers)


def epp_selector(kubectl: Kubectl, namespace: str, pool: dict, what: str) -> str:
    """The pool's EPP pods as Prometheus labels them (namespace, pod of the EPP Deployment), from the cluster."""
    spec = pool.get("spec") or {}
    epp = ((spec.get("endpointPickerRef") or spec.get("extensionRef")) or {}).get("name")
    if not epp or kubectl.find("deployments", epp, namespace, f"read the EPP Deployment of {what}") is None:
        raise InputError(
            f"{what}: no EPP Deployment {epp or '(none named)'} in {namespace} to take its metrics' labels from; "
            "pass the selector"
        )
    # a Deployment's pods are DEPLOYMENT-<replica set hash>-<id>; a name's only regex character is '.', escaped
    # for the regex and its backslash again for the PromQL string
    literal = epp.replace(".", "\\\\.")
    return f'namespace="{_escaped(namespace)}",pod=~"{literal}-[a-z0-9]+-[a-z0-9]+"'


def _escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _names(names: tuple[str, ...]) -> str:
    return f'__name__=~"{"|".join(names)}"'


def queries(side: str, window: str) -> dict[str, str]:
    """The side's queries over the window (`side`: its label matchers)."""
    metrics = api().epp.metrics
    requests = f"sum(increase({{{_names(metrics.request_total)},{side}}}[{window}]))"
    errors = f"sum(increase({{{_names(metrics.request_error_total)},{side}}}[{window}]))"
    buckets = f"sum by (le) (rate({{{_names(metrics.request_duration_bucket)},{side}}}[{window}]))"
    return {
        "requests": requests,
        # no error series is no error yet (an EPP's error counter appears at its first error): 0, while no
        # request series still gives no value
        "error ratio": f"(({errors}) or vector(0)) / {requests}",
        "p95 latency": f"histogram_quantile(0.95, {buckets})",
        "ready pods": f"sum({{{_names(metrics.ready_pods)},{side}}})",
    }


def analyze(prometheus: Prometheus, ga: str, alpha: str | None, limits: Limits) -> Analysis:
    """Every check, each evaluated (a failing one does not hide the others)."""
    found = Analysis()
    ga_queries = queries(ga, limits.window)

    def check(name: str, query: str, threshold: str, holds) -> float | None:  # noqa: ANN001 (a predicate)
        try:
            value = prometheus.value(query)
        except NoData as why:
            found.checks.append(Check(name, query, None, threshold, False, str(why)))
            return None
        passed = holds(value)
        found.checks.append(Check(name, query, value, threshold, passed, None if passed else "over the threshold"))
        return value

    check("GA requests", ga_queries["requests"], f">= {limits.min_requests}", lambda v: v >= limits.min_requests)
    if found.checks[-1].value is not None and not found.checks[-1].passed:
        found.checks[-1].why = "too few requests in the window to judge by (--min-requests)"
    ga_ratio = check("GA error ratio", ga_queries["error ratio"], f"<= {limits.max_error_ratio:g}",
                     lambda v: v <= limits.max_error_ratio)  # fmt: skip
    check("GA p95 latency (s)", ga_queries["p95 latency"], f"<= {limits.max_p95_s:g}", lambda v: v <= limits.max_p95_s)
    check("GA ready pods", ga_queries["ready pods"], "> 0", lambda v: v > 0)
    if alpha is not None and limits.max_error_ratio_increase is not None:
        alpha_query = queries(alpha, limits.window)["error ratio"]
        increase = limits.max_error_ratio_increase
        name, threshold = "GA error ratio - alpha error ratio", f"<= {increase:g}"
        try:
            alpha_ratio = prometheus.value(alpha_query)
        except NoData as why:
            found.checks.append(Check(name, alpha_query, None, threshold, False, f"alpha: {why}"))
        else:
            if ga_ratio is None:
                found.checks.append(Check(name, alpha_query, None, threshold, False, "no GA error ratio"))
            else:
                difference = ga_ratio - alpha_ratio
                passed = difference <= increase
                found.checks.append(Check(name, alpha_query, difference, threshold, passed,
                                          None if passed else f"GA {ga_ratio:g} against alpha {alpha_ratio:g}"))  # fmt: skip
    return found


@dataclass
class Judge:
    """A stage's metric analysis, ready to run: where to ask, which series are each side's, the limits."""

    prometheus: Prometheus
    ga: str
    alpha: str | None
    limits: Limits

    @property
    def window_seconds(self) -> float:
        number, unit = re.match(r"^([0-9]+)(ms|s|m|h|d)$", self.limits.window).groups()  # type: ignore[union-attr]
        return int(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]

    def run(self) -> Analysis:
        return analyze(self.prometheus, self.ga, self.alpha, self.limits)


def judge(
    kubectl: Kubectl | None,
    url: str,
    token: str | None,
    timeout: float,
    pools: dict[str, str | None],
    selectors: dict[str, str | None],
    limits: Limits,
) -> Judge:
    """The Judge for these pools (`pools` and `selectors` by side, "GA" and "alpha"): a side without a selector
    gets its EPP's pods, read from the cluster (InputError when the pool or its EPP is not there)."""
    if not _WINDOW.match(limits.window):
        raise InputError(f"--window {limits.window!r}: expected a Prometheus duration such as 5m or 30s")
    if limits.max_error_ratio_increase is not None and not pools.get("alpha"):
        raise InputError("--max-error-ratio-increase: compares with the alpha pool; pass --alpha-pool")
    prometheus = Prometheus(url, token, timeout)
    resources = {"GA": api().cluster.resources.ga_pool, "alpha": api().cluster.resources.alpha_pool}
    sides: dict[str, str] = {}
    for side, pool in pools.items():
        flag = f"--{side.lower()}-selector"
        if pool is None:
            continue
        if selectors.get(side):
            sides[side] = selector(selectors[side] or "", flag)
            continue
        if kubectl is None:
            raise InputError(f"{flag}: needed without a cluster to read the {side} pool's EPP from")
        where = kubectl.default_namespace
        live = kubectl.find(resources[side], pool, where, f"read the {side} pool {where}/{pool}")
        if live is None:
            raise InputError(f"--{side.lower()}-pool {pool}: no such {side} InferencePool in {where}; pass {flag}")
        sides[side] = epp_selector(kubectl, where, live, f"the {side} pool {where}/{pool}")
    return Judge(prometheus, sides["GA"], sides.get("alpha"), limits)

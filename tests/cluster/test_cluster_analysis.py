"""Issue 13.1: a traffic stage that measures itself. A loopback "gateway" answers completions and splits them as
the live HTTPRoute says (every n-th request to the GA pool, exactly by weight); its GA path can break from a
given weight on, or never answer. The Gateway controller double accepts and resolves as GKE's does."""

from __future__ import annotations

import http.server
import json
import math
import threading
import time

import pytest
from completions import ANSWERED, answer, server  # noqa: F401  (start needs server)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, FIXTURES, GA_GROUP, GatewayController, alpha_pool, ga_pool, put_serving
from test_cluster_migrate import start  # noqa: F401  (the alpha stack behind a programmed Gateway)

GA_POOL = f"{ALPHA_RELEASE}-ga"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
SHIFT = ["shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]
HEADER = "x-gateway-inference-objective"  # what a v1 EPP picks the objective from (issue 13; mapping.yaml)


class SplittingGateway(http.server.BaseHTTPRequestHandler):
    """Routes request n to the GA pool when floor((n+1)w/100) > floor(nw/100), w the route's GA weight now."""

    api = None
    ga_breaks_at: int | None = None  # from this GA weight on, the GA path answers 503
    hang = False  # hold every request until `released` is set: a server that never answers, seen from the probe
    released = threading.Event()
    delay = 0.0  # seconds before each answer: a lower bound on every request's latency
    seen: list = []
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def _ga_weight(self) -> int:
        refs = self.api.get(*ROUTE)["spec"]["rules"][0]["backendRefs"]
        weights = {ref.get("group"): ref.get("weight", 1) for ref in refs}
        total = sum(weights.values())
        return round(100 * weights.get(GA_GROUP, 0) / total) if total else 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            n = len(SplittingGateway.seen)
            weight = self._ga_weight()
            to_ga = math.floor((n + 1) * weight / 100) > math.floor(n * weight / 100)
            SplittingGateway.seen.append((weight, to_ga, body["model"], self.headers.get(HEADER)))
        if self.hang:
            SplittingGateway.released.wait(120)
            return
        time.sleep(self.delay)
        broken = to_ga and self.ga_breaks_at is not None and weight >= self.ga_breaks_at
        answer(self, *((503, "upstream connect error") if broken else (200, ANSWERED)))


@pytest.fixture
def gateway(cluster):
    """The alpha route live, the GA pool beside it (objectives of its models), and the splitting gateway."""
    cluster.api.load(
        FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
        FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml",
        FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml",
        FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml",
    )
    put_serving(cluster.api, alpha_pool())
    put_serving(cluster.api, ga_pool(GA_POOL))
    cluster.api.controllers.append(GatewayController())
    cluster.api.reconcile()
    SplittingGateway.api, SplittingGateway.ga_breaks_at, SplittingGateway.hang = cluster.api, None, False
    SplittingGateway.seen, SplittingGateway.delay, SplittingGateway.released = [], 0.0, threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SplittingGateway)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    cluster.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1/completions"
    yield cluster
    httpd.shutdown()
    httpd.server_close()


def backends(cluster) -> list[tuple[str, str, int]]:
    return [
        (b["group"], b["name"], b.get("weight", 1)) for b in cluster.api.get(*ROUTE)["spec"]["rules"][0]["backendRefs"]
    ]


def analysed(cluster, weight: int, *extra: str):
    return cluster.migrate(*SHIFT, "--ga-weight", str(weight), "--analysis", "--url", cluster.url, *extra)


def test_a_ga_path_that_fails_at_25_percent_goes_back_to_5(gateway):
    SplittingGateway.ga_breaks_at = 25
    first = analysed(gateway, 5, "-o", "json")
    assert first.returncode == 0, first.stderr
    record = json.loads(first.stdout)
    assert record["analysis"]["passed"] and record["analysis"]["sent"] == 20 and record["analysis"]["success_rate"] == 1
    assert backends(gateway) == [(ALPHA_GROUP, ALPHA_RELEASE, 95), (GA_GROUP, GA_POOL, 5)]

    failed = analysed(gateway, 25, "-o", "json")
    assert failed.returncode == 1, failed.stderr
    record = json.loads(failed.stdout)
    # a quarter of the 20 requests reached the broken GA path: success 75% < 99%
    assert (record["weight"], record["previous_weight"], record["rolled_back_to"]) == (25, 5, 5)
    assert record["analysis"]["succeeded"] == 15 and record["analysis"]["success_rate"] == 0.75
    assert record["analysis"]["failures"] == {"HTTP 503: upstream connect error": 5}
    assert "Error: stage 25% failed its analysis: success 75.0% < 99%" in failed.stderr
    assert "is back at GA weight 5" in failed.stderr
    assert backends(gateway) == [(ALPHA_GROUP, ALPHA_RELEASE, 95), (GA_GROUP, GA_POOL, 5)]
    # nothing is lost: both pools, their EPPs, the models and the route are there, and the route resolves
    for api_version, kind, name in (
        (f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE),
        (f"{GA_GROUP}/v1", "InferencePool", GA_POOL),
        ("apps/v1", "Deployment", f"{GA_POOL}-epp"),
    ):
        assert gateway.api.get(api_version, kind, name) is not None
    assert len(gateway.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceModel")) == 3
    conditions = gateway.api.get(*ROUTE)["status"]["parents"][0]["conditions"]
    assert {c["type"]: c["status"] for c in conditions} == {"Accepted": "True", "ResolvedRefs": "True"}
    # progress was shown while the stage ran
    assert "stage 25%: 20/20 sent, 75.0% ok" in failed.stderr


def test_a_healthy_path_reaches_100(gateway):
    for weight in (5, 25, 50, 100):
        done = analysed(gateway, weight, "--analysis-requests", "8")
        assert done.returncode == 0, done.stderr
        assert f"stage {weight}% of HTTPRoute default/llm-route: passed (8 sent, 8 succeeded (100.0%)" in done.stdout
    assert backends(gateway) == [(GA_GROUP, GA_POOL, 100)]
    # at 100% every request of the last stage went to the GA pool
    assert [to_ga for weight, to_ga, *_ in SplittingGateway.seen if weight == 100] == [True] * 8


def test_the_probe_sends_what_it_was_told_with_each_models_objective(gateway):
    done = analysed(gateway, 50, "--analysis-requests", "7")
    assert done.returncode == 0, done.stderr
    assert len(SplittingGateway.seen) == 7
    # the fixtures' InferenceModels: each request names a modelName and the objective carrying that model
    models = {
        m["spec"]["modelName"]: m["metadata"]["name"]
        for m in gateway.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceModel")
    }
    assert {(model, objective) for _, _, model, objective in SplittingGateway.seen} == set(models.items())


def test_a_server_that_never_answers_stops_at_the_analysis_timeout(gateway):
    """The server holds the request until the test lets it go, after the command ended: the command can only have
    ended on its own timeout (no wall-clock bound to miss on a loaded machine)."""
    SplittingGateway.hang = True
    try:
        done = analysed(gateway, 50, "--analysis-timeout", "2s")
        assert not SplittingGateway.released.is_set(), "the server answered: the probe did not stop on its own"
    finally:
        SplittingGateway.released.set()
    assert done.returncode == 1
    assert "stage 50% failed its analysis: the analysis timeout (2s) passed" in done.stderr
    assert "1x no answer within" in done.stderr
    assert len(SplittingGateway.seen) == 1
    assert backends(gateway) == [(ALPHA_GROUP, ALPHA_RELEASE, 100), (GA_GROUP, GA_POOL, 0)]


def test_a_slow_stage_fails_its_p95(gateway):
    """Every answer comes 50 ms late (at least that, whatever the machine's speed): a p95 of 10 ms fails."""
    SplittingGateway.delay = 0.05
    done = analysed(gateway, 50, "--analysis-requests", "3", "--max-p95", "10ms")
    assert done.returncode == 1
    assert "failed its analysis: p95" in done.stderr and "> 10 ms" in done.stderr


def test_migrate_stops_at_the_failing_stage_and_resumes_from_the_cluster(start):
    """The plan shows each stage's checks; migrate runs exactly them, goes back to 5% when 25% fails."""
    url = next(arg for arg in start.args if arg.startswith("http://"))
    stages = ["--path", "zero-downtime", "--stages", "5,25,50,100", "--analysis", "--analysis-requests", "8"]
    plan = start.migrate("plan", *stages, *start.args, "-o", "json")
    assert plan.returncode == 0, plan.stderr
    commands = {row["key"]: row["argv"] for row in json.loads(plan.stdout)["steps"]}
    checks = [
        "--analysis",
        "--analysis-requests",
        "8",
        "--analysis-timeout",
        "120s",
        "--min-success",
        "0.99",
        "--max-p95",
        "5s",
        "--url",
        url,
    ]
    argv = commands["stage-25"]
    assert argv[argv.index("--analysis") : argv.index("--analysis") + len(checks)] == checks
    assert "--analysis" not in commands["programmed"]
    SplittingGateway.api, SplittingGateway.seen, SplittingGateway.hang = start.api, [], False
    SplittingGateway.delay, SplittingGateway.released = 0.0, threading.Event()
    SplittingGateway.ga_breaks_at = 25
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SplittingGateway)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    args = [arg.replace(url, f"http://127.0.0.1:{httpd.server_address[1]}/v1/completions") for arg in start.args]
    try:
        done = start.migrate("migrate", *stages, *args, timeout=240)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert done.returncode == 1, done.stderr
    assert "step 7 (send 25% of llm-route to the GA pool" in done.stderr and "failed its analysis" in done.stderr
    route = start.api.get(*ROUTE)
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (ALPHA_GROUP, ALPHA_RELEASE, 95),
        (GA_GROUP, f"{ALPHA_RELEASE}-ga", 5),
    ]
    assert start.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE) is not None

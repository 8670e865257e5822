"""Issue 23.1: `analyze` judges the GA pool from its EPP's metrics in a real Prometheus (tests/prometheus.py), and
fails closed: no series, NaN, too few requests, a Prometheus error and a timeout each fail, saying which."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from conftest import FIXTURES, ga_pool, in_process, put_serving
from prometheus import WINDOW, prometheus  # noqa: F401  (the fixture)

from infgw_postrender.cli.main import cli

pytestmark = pytest.mark.e2e  # a real Prometheus


def analyze(prometheus, *args: str, env: dict | None = None):  # noqa: F811
    done = in_process(cli, "infgw-migrate", ["analyze", "--metrics-url", prometheus.url, "--ga-pool", "vllm-ga",
                                             "--window", WINDOW, *args], env=env)  # fmt: skip
    return done, (json.loads(done.stdout) if "-o" in args and done.stdout.strip() else None)


def checks(found: dict) -> dict:
    return {check["name"]: check for check in found["checks"]}


@pytest.mark.parametrize("job", ["ga-ok", "ga-v1.0.0"])
def test_a_healthy_ga_pool_passes_whatever_its_release_names_the_metrics(prometheus, job):  # noqa: F811
    done, found = analyze(prometheus, "--ga-selector", f"job={job}", "-o", "json")
    assert done.returncode == 0, done.stderr
    by_name = checks(found)
    # 10 requests a second over 10 s; no error series at all (an EPP's error counter starts at its first error)
    assert 50 <= by_name["GA requests"]["value"] <= 150
    assert by_name["GA error ratio"]["value"] == 0
    # every request took 0.3 s: in the (0.2, 0.4] bucket, which histogram_quantile interpolates
    assert 0.2 < by_name["GA p95 latency (s)"]["value"] <= 0.4
    assert by_name["GA ready pods"]["value"] == 3
    assert all(check["passed"] for check in found["checks"]) and found["passed"]


@pytest.mark.parametrize(
    "job, failing, words",
    [
        ("ga-errors", "GA error ratio", "0.05 (threshold <= 0.01): over the threshold"),
        ("ga-slow", "GA p95 latency (s)", "(threshold <= 5): over the threshold"),
        ("ga-few", "GA requests", "(threshold >= 20): too few requests in the window to judge by"),
        ("ga-no-pods", "GA ready pods", "0 (threshold > 0)"),
    ],
)
def test_a_check_over_its_threshold_fails_and_is_named(prometheus, job, failing, words):  # noqa: F811
    done, _ = analyze(prometheus, "--ga-selector", f"job={job}")
    assert done.returncode == 1
    failed = [line for line in done.stderr.splitlines() if line.startswith("failed: ")]
    assert [line for line in failed if line.startswith(f"failed: {failing}: ")], done.stderr
    assert any(words in line for line in failed), failed
    assert "FAILED" in done.stdout  # the table for people


@pytest.mark.parametrize(
    "selector, why",
    [
        ("job=nothing", "no series: nothing matched the selector in the window"),
        ('job=~"("', "Prometheus: bad_data"),
    ],
)
def test_no_data_fails_every_check_never_passes(prometheus, selector, why):  # noqa: F811
    done, found = analyze(prometheus, "--ga-selector", selector, "-o", "json")
    assert done.returncode == 1 and not found["passed"]
    assert all(not check["passed"] and why in check["why"] and check["value"] is None for check in found["checks"])


def test_an_idle_pool_gives_nan_which_fails(prometheus):  # noqa: F811
    done, found = analyze(prometheus, "--ga-selector", "job=ga-idle", "-o", "json")
    assert done.returncode == 1
    by_name = checks(found)
    assert by_name["GA requests"]["value"] == 0 and not by_name["GA requests"]["passed"]
    assert "no requests to measure in the window" in by_name["GA error ratio"]["why"]
    assert "no requests to measure in the window" in by_name["GA p95 latency (s)"]["why"]


def test_ga_against_alpha(prometheus):  # noqa: F811
    """The alpha EPP (v0.3.0's metric names) fails 0.2% of its requests: GA may exceed that by the increase given."""
    compare = ["--alpha-pool", "vllm", "--alpha-selector", "job=alpha-ok", "--max-error-ratio-increase", "0.01"]
    done, found = analyze(prometheus, "--ga-selector", "job=ga-ok", *compare, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert checks(found)["GA error ratio - alpha error ratio"]["value"] == pytest.approx(-0.002, abs=1e-6)
    done, found = analyze(
        prometheus, "--ga-selector", "job=ga-errors", *compare, "--max-error-ratio", "0.1", "-o", "json"
    )
    assert done.returncode == 1
    difference = checks(found)["GA error ratio - alpha error ratio"]
    assert difference["value"] == pytest.approx(0.048, abs=1e-6) and not difference["passed"]
    assert [c["name"] for c in found["checks"] if not c["passed"]] == ["GA error ratio - alpha error ratio"]


def test_a_prometheus_that_does_not_answer_in_time_fails(prometheus):  # noqa: F811
    class Silent(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            time.sleep(3)

        def log_message(self, *args) -> None:
            pass

    silent = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Silent)
    silent.daemon_threads = True
    threading.Thread(target=silent.serve_forever, daemon=True).start()
    try:
        done = in_process(cli, "infgw-migrate", ["analyze", "--metrics-url", f"http://127.0.0.1:{silent.server_address[1]}",
                                                 "--ga-pool", "vllm-ga", "--ga-selector", "job=ga-ok",
                                                 "--metrics-timeout", "500ms", "-o", "json"])  # fmt: skip
    finally:
        silent.shutdown()
    found = json.loads(done.stdout)
    assert done.returncode == 1
    assert all("within 0.5s (--metrics-timeout)" in check["why"] for check in found["checks"])


def test_the_token_is_sent_and_never_shown(prometheus, tmp_path):  # noqa: F811
    """A proxy in front of the real Prometheus records the Authorization header; the token appears nowhere in
    what the command prints, also when the URL carries credentials and the checks fail."""
    seen = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            import requests

            seen.append(self.headers.get("Authorization"))
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = requests.post(f"{prometheus.url}{self.path}", data=body,
                                   headers={"Content-Type": self.headers["Content-Type"]}, timeout=10)  # fmt: skip
            self.send_response(answer.status_code)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, *args) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://user:url-secret@127.0.0.1:{proxy.server_address[1]}"
    try:
        for args, env, token in (
            ([], {"INFGW_METRICS_TOKEN": "env-secret"}, "env-secret"),
            (["--metrics-token-command", "echo command-secret"], {}, "command-secret"),
        ):
            seen.clear()
            done = in_process(cli, "infgw-migrate", ["analyze", "--metrics-url", url, "--ga-pool", "vllm-ga",
                                                     "--ga-selector", "job=ga-errors", "--window", WINDOW, *args],
                              env=env)  # fmt: skip
            assert done.returncode == 1 and seen and set(seen) == {f"Bearer {token}"}
            assert token not in done.stdout + done.stderr and "url-secret" not in done.stdout + done.stderr
    finally:
        proxy.shutdown()


def test_without_a_selector_the_ga_epp_s_pods_are_read_from_the_cluster(prometheus, memory):  # noqa: F811
    """The GA pool's EPP Deployment `ga-ok-epp`: its pods are what Prometheus labels pod=ga-ok-epp-<rs>-<id>."""
    pool = ga_pool("vllm-ga")
    pool["spec"]["endpointPickerRef"]["name"] = "ga-ok-epp"
    memory.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    put_serving(memory.api, pool)
    done = memory.migrate("analyze", "--metrics-url", prometheus.url, "--ga-pool", "vllm-ga", "--window", WINDOW,
                          "-o", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert 'pod=~"ga-ok-epp-[a-z0-9]+-[a-z0-9]+"' in found["checks"][0]["query"]
    missing = memory.migrate("analyze", "--metrics-url", prometheus.url, "--ga-pool", "nope", "--window", WINDOW)
    assert missing.returncode == 2 and "--ga-pool nope: no such GA InferencePool in default" in missing.stderr


@pytest.fixture
def live(memory):
    """The guide's route live on the in-memory cluster, all traffic on the alpha pool; a GA pool the Gateway
    accepts once the route names it."""
    from conftest import GatewayController, alpha_pool

    memory.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
                    FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml", FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml")  # fmt: skip
    put_serving(memory.api, alpha_pool())
    put_serving(memory.api, ga_pool("vllm-llama3-8b-instruct-ga"))
    memory.api.controllers.append(GatewayController())
    memory.api.reconcile()
    return memory


SHIFT = ["shift", "--route", "llm-route", "--alpha-pool", "vllm-llama3-8b-instruct", "--ga-pool",
         "vllm-llama3-8b-instruct-ga"]  # fmt: skip


def ga_weight(live) -> int | None:
    route = live.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    return next((ref.get("weight", 1) for ref in route["spec"]["rules"][0]["backendRefs"]
                 if ref["name"].endswith("-ga")), None)  # fmt: skip


def test_a_stage_with_a_bad_ga_error_ratio_goes_back_on_its_own(prometheus, live):  # noqa: F811
    """Issue 23.2: shift to 50%, wait the window (on the fake clock), judge from Prometheus: 5% errors, so the
    route goes back to the weight the stage started from, through the same checked shift."""
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0
    before = live.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")["metadata"]["generation"]
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--metrics-url", prometheus.url, "--ga-selector", "job=ga-errors",
                        "--window", WINDOW, "-o", "json")  # fmt: skip
    assert done.returncode == 1
    assert "stage 50% failed its analysis: metrics: GA error ratio: 0.05 (threshold <= 0.01)" in done.stderr
    assert "HTTPRoute default/llm-route is back at GA weight 0" in done.stderr
    assert ga_weight(live) == 0
    assert live.clock.slept >= 10, "the stage waited its window of traffic first"
    record = json.loads(done.stdout)
    assert record["rolled_back_to"] == 0 and not record["metrics"]["passed"]
    # the verdict stays on the route: `status` shows it from the cluster (issue 23.3's "the last analysis")
    status = live.migrate("status", *SHIFT[1:])
    assert status.returncode == 0, status.stderr
    assert "last analysis  stage 50% at " in status.stdout
    assert "FAILED: metrics: GA error ratio: 0.05 (threshold <= 0.01)" in status.stdout
    note = json.loads(live.migrate("status", *SHIFT[1:], "-o", "json").stdout)["last_analysis"]
    ratio = next(check for check in note["metrics"] if check["name"] == "GA error ratio")
    assert (note["weight"], note["passed"], round(ratio["value"], 6), ratio["passed"]) == (50, False, 0.05, False)
    route = live.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    assert route["metadata"]["generation"] == before + 2, "two spec changes (to 50, back to 0); the note is none"


def test_a_stage_that_passes_its_metrics_stays(prometheus, live):  # noqa: F811
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--metrics-url", prometheus.url, "--ga-selector", "job=ga-ok",
                        "--window", WINDOW)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ga_weight(live) == 50 and "metrics passed" in done.stdout


def test_migrate_passes_the_metric_analysis_to_each_stage_with_traffic(live, prometheus):  # noqa: F811
    """What plan prints is what migrate runs: the stages at 50 and 100 carry the analysis, the stage at 0 none."""
    from conftest import install_alpha_stack

    install_alpha_stack(live)
    args = ["--alpha-pool", "vllm-llama3-8b-instruct", "--stages", "0,50,100", "--metrics-url", prometheus.url,
            "--ga-selector", "job=ga-ok", "--window", "1m", "--metrics-token-command", "gcloud auth print-access-token"]  # fmt: skip
    done = live.migrate("plan", "--path", "zero-downtime", *args, "-o", "json")
    assert done.returncode == 0, done.stderr
    stages = {step["key"]: step["argv"] for step in json.loads(done.stdout)["steps"] if step["key"].startswith("stage")}
    assert "--metrics-url" not in stages["stage-0"]
    for key in ("stage-50", "stage-100"):
        argv = stages[key]
        assert argv[argv.index("--metrics-url") + 1] == prometheus.url and argv[argv.index("--window") + 1] == "1m"
        assert argv[argv.index("--metrics-token-command") + 1] == "gcloud auth print-access-token"
    simple = live.migrate(
        "plan", "--path", "simple", "--alpha-pool", "vllm-llama3-8b-instruct", "--metrics-url", prometheus.url
    )
    assert simple.returncode == 2 and "--metrics-url: the simple path has no traffic stages" in simple.stderr

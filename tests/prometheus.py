"""A real Prometheus (Debian's `prometheus` package; scripts/test installs it) on loopback, scraping a test
exporter that serves the EPP's metric families with values each scrape job is set to: the requests, errors and
latency histogram as upstream's EPP exports them (pkg/epp/metrics/metrics.go: counters per model, the error
counter only once an error happened, `request_duration_seconds` with its buckets), and the pool's ready pods.

One Prometheus per test process, started with every behaviour the tests judge (a job each), scraping every
second; the fixture waits until a window of data is there. Without the binary the tests skip with one line,
unless INFGW_REQUIRE_PROMETHEUS=1 (CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from conftest import SERVER_GOGC

# pkg/epp/metrics/metrics.go at v1.0.0, request_duration_seconds' buckets
BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0,
           20.0, 30.0, 45.0, 60.0, 120.0, 180.0, 240.0, 300.0, 360.0, 480.0, 600.0, 900.0, 1200.0, 1800.0, 2700.0,
           3600.0]  # fmt: skip
WINDOW = "10s"


@dataclass(frozen=True)
class Behaviour:
    """What one EPP's metrics say: requests a second, the share of them that fail, every request's latency, the
    pool's ready pods, and which release's metric names it exports."""

    requests_per_s: float = 10.0
    error_ratio: float = 0.0
    latency_s: float = 0.3
    ready_pods: int = 3
    prefix: str = "inference_objective"  # v1.1.0 and later; v1.0.0 and v0.3.0 export inference_model


JOBS = {
    "ga-ok": Behaviour(),
    "alpha-ok": Behaviour(error_ratio=0.002, prefix="inference_model"),  # the alpha EPP: v0.3.0's names
    "ga-v1.0.0": Behaviour(prefix="inference_model"),
    "ga-errors": Behaviour(error_ratio=0.05),
    "ga-slow": Behaviour(latency_s=7.0),
    "ga-few": Behaviour(requests_per_s=0.5),
    "ga-idle": Behaviour(requests_per_s=0.0),
    "ga-no-pods": Behaviour(ready_pods=0),
}


def exposition(behaviour: Behaviour, elapsed: float, pool: str) -> str:
    """The text a scrape gets after `elapsed` seconds of this behaviour."""
    total = behaviour.requests_per_s * elapsed
    errors = total * behaviour.error_ratio
    labels = 'model_name="food-review",target_model_name="food-review"'
    name = behaviour.prefix
    lines = [f"# TYPE {name}_request_total counter", f"{name}_request_total{{{labels}}} {total}"]
    if errors:
        lines += [f"# TYPE {name}_request_error_total counter",
                  f'{name}_request_error_total{{{labels},error_code="Internal"}} {errors}']  # fmt: skip
    lines.append(f"# TYPE {name}_request_duration_seconds histogram")
    for bound in BUCKETS:
        count = total if behaviour.latency_s <= bound else 0
        lines.append(f'{name}_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}')
    lines += [f'{name}_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}',
              f"{name}_request_duration_seconds_sum{{{labels}}} {total * behaviour.latency_s}",
              f"{name}_request_duration_seconds_count{{{labels}}} {total}",
              "# TYPE inference_pool_ready_pods gauge",
              f'inference_pool_ready_pods{{name="{pool}"}} {behaviour.ready_pods}']  # fmt: skip
    return "\n".join(lines) + "\n"


class _Exporter(BaseHTTPRequestHandler):
    started = time.monotonic()

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        job = self.path.rsplit("/", 1)[-1]
        body = exposition(JOBS[job], time.monotonic() - self.started, f"pool-{job}").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@dataclass
class RealPrometheus:
    url: str
    process: subprocess.Popen

    def query(self, query: str) -> list:
        return requests.post(f"{self.url}/api/v1/query", data={"query": query}, timeout=10).json()["data"]["result"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary() -> str | None:
    return shutil.which("prometheus")


@pytest.fixture(scope="session")
def prometheus():
    binary = _binary()
    if binary is None:
        why = "no prometheus on PATH: scripts/test installs Debian's package (apt-get install prometheus)"
        if os.environ.get("INFGW_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    exporter = ThreadingHTTPServer(("127.0.0.1", 0), _Exporter)
    exporter.daemon_threads = True
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    folder = Path(tempfile.mkdtemp(prefix="infgw-prometheus-"))
    jobs = "".join(
        f"""
  - job_name: {job}
    metrics_path: /metrics/{job}
    static_configs:
      - targets: ["127.0.0.1:{exporter.server_address[1]}"]
        labels: {{namespace: default, pod: {job}-epp-5d8f7c9b4-x7k2p}}
"""
        for job in JOBS
    )
    (folder / "prometheus.yml").write_text(f"global: {{scrape_interval: 1s}}\nscrape_configs:{jobs}")
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "GOGC": SERVER_GOGC},
    )  # fmt: skip
    found = RealPrometheus(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 60
        while True:  # a window of samples for every job
            try:
                counts = found.query(f'count_over_time(up{{job=~".+"}}[{WINDOW}])')
                if len(counts) == len(JOBS) and all(int(c["value"][1]) >= 8 for c in counts):
                    break
            except (requests.RequestException, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("prometheus: no window of samples after 60 s")
            time.sleep(0.5)
        yield found
    finally:
        process.terminate()
        process.wait(timeout=10)
        exporter.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

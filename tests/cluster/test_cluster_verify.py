"""`verify` against a completion server on loopback: 200, 404, 503, not JSON, and no answer at all."""

from __future__ import annotations

import json

import pytest
from completions import Completions, server  # noqa: F401  (the completion server fixture)
from conftest import FIXTURES


@pytest.fixture
def cluster(memory):
    """The fast tier's in-memory cluster (kubectl and Helm reads in this process)."""
    return memory


def url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1/completions"


def test_a_200_completion_passes_and_reports_latency(cluster, server):
    Completions.behaviour = "ok"
    done = cluster.migrate("verify", "--url", url(server), "--model", "food-review", "-o", "json")
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["status"] == 200 and verdict["ok"] and verdict["latency_ms"] >= 0
    assert Completions.seen == [
        (
            "/v1/completions",
            {
                "model": "food-review",
                "prompt": "Write as if you were a critic: San Francisco",
                "max_tokens": 100,
                "temperature": 0,
            },
        )
    ]


@pytest.mark.parametrize(
    "behaviour, message",
    [
        ("404", "HTTP 404"),
        ("503", "HTTP 503: no healthy upstream"),
        ("not-json", "the body is not JSON"),
        ("never", "no answer within 2s"),
    ],
)
def test_failures_are_one_line_and_exit_1(cluster, server, behaviour, message):
    Completions.behaviour = behaviour
    done = cluster.migrate("verify", "--url", url(server), "--model", "food-review", "--timeout", "2")
    assert done.returncode == 1
    assert message in done.stdout and done.stderr.startswith("Error: verify:") and "Traceback" not in done.stderr


def test_through_the_gateway_address(cluster, server):
    Completions.behaviour = "ok"
    cluster.api.load(FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml")
    gateway = cluster.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    done = cluster.migrate("verify", "--port", str(server.server_address[1]), "--model", "food-review")
    assert done.returncode == 1 and "is not PROGRAMMED" in done.stdout
    gateway["status"] = {
        "addresses": [{"type": "IPAddress", "value": "127.0.0.1"}],
        "conditions": [{"type": "Programmed", "status": "True"}],
    }
    done = cluster.migrate("verify", "--port", str(server.server_address[1]), "--model", "food-review")
    assert done.returncode == 0, done.stderr
    assert "PROGRAMMED, address 127.0.0.1" in done.stdout and ": 200 in " in done.stdout


def test_with_a_url_the_gateway_is_not_claimed_programmed(cluster, server):
    """Issue 9.13: --url asks that URL alone; the Gateway is not read, so nothing is said of PROGRAMMED."""
    done = cluster.migrate("verify", "--url", url(server), "--model", "food-review", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["programmed"] is None
    assert cluster.api.requests == []
    table = cluster.migrate("verify", "--url", url(server), "--model", "food-review")
    assert "gateway inference-gateway: not read (--url)" in table.stdout

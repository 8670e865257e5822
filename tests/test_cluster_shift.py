"""`shift`: only the two pools' backendRefs of the live HTTPRoute change; each refusal leaves it untouched."""

from __future__ import annotations

import copy
import threading
import time

import pytest

from conftest import ALPHA_GROUP, ALPHA_RELEASE, FIXTURES, GA_GROUP, gateway_controller, ga_pool

GA_POOL = f"{ALPHA_RELEASE}-ga"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
SHIFT = ["shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]


@pytest.fixture
def live(cluster):
    """The alpha route live; the GA CRDs and a GA pool that the Gateway accepted."""
    cluster.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
                     FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml")
    route = cluster.api.get(*ROUTE)
    # a second rule with another backend, a filter and a timeout: none of it may change
    route["spec"]["rules"].append({"matches": [{"headers": [{"name": "x-canary", "value": "1"}]}],
                                   "filters": [{"type": "RequestHeaderModifier",
                                                "requestHeaderModifier": {"add": [{"name": "x-a", "value": "b"}]}}],
                                   "timeouts": {"request": "300s"},
                                   "backendRefs": [{"name": "static-backend", "port": 80},
                                                   {"group": ALPHA_GROUP, "kind": "InferencePool", "name": ALPHA_RELEASE, "weight": 3}]})
    cluster.api.controllers.append(gateway_controller())
    pool = ga_pool(GA_POOL)
    gateway_controller()(pool)  # accepted
    cluster.api.put(pool)
    return cluster


def backends(cluster, rule: int = 0):
    return [(b.get("group", ""), b["name"], b.get("weight")) for b in cluster.api.get(*ROUTE)["spec"]["rules"][rule]["backendRefs"]]


def test_dry_run_prints_a_diff_and_changes_nothing(live):
    before = copy.deepcopy(live.api.get(*ROUTE))
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("--- llm-route (live)\n+++ llm-route (GA weight 50)\n")
    assert f"+    name: {GA_POOL}\n" in done.stdout and "+    weight: 50\n" in done.stdout
    assert live.api.get(*ROUTE) == before


def test_walk_the_split_and_back(live):
    other_rule = copy.deepcopy(live.api.get(*ROUTE)["spec"]["rules"][1])
    for weight in (0, 50, 100, 50, 0):
        done = live.migrate(*SHIFT, "--ga-weight", str(weight))
        assert done.returncode == 0, done.stderr
        expected = ([] if weight == 100 else [(ALPHA_GROUP, ALPHA_RELEASE, 100 - weight)]) + [(GA_GROUP, GA_POOL, weight)]
        assert backends(live) == expected
        rule = live.api.get(*ROUTE)["spec"]["rules"][1]
        # the other rule keeps its matches, filters, timeout and other backend; the pools share the alpha's 3
        assert {k: v for k, v in rule.items() if k != "backendRefs"} == {k: v for k, v in other_rule.items() if k != "backendRefs"}
        assert rule["backendRefs"][0] == {"name": "static-backend", "port": 80}
        assert sum(b["weight"] for b in rule["backendRefs"][1:]) == 3
    assert live.api.get(*ROUTE)["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_same_weight_twice_changes_nothing(live):
    live.migrate(*SHIFT, "--ga-weight", "50")
    version = live.api.get(*ROUTE)["metadata"]["resourceVersion"]
    done = live.migrate(*SHIFT, "--ga-weight", "50")
    assert done.returncode == 0 and "nothing to change" in done.stdout
    assert live.api.get(*ROUTE)["metadata"]["resourceVersion"] == version


def test_refused_while_the_gateway_has_not_accepted_the_ga_pool(live):
    pool = live.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_POOL)
    pool["status"] = {"parents": []}
    before = copy.deepcopy(live.api.get(*ROUTE))
    done = live.migrate(*SHIFT, "--ga-weight", "50")
    assert done.returncode == 3 and done.stdout == ""
    assert "is not accepted by Gateway inference-gateway yet" in done.stderr and "--force" in done.stderr
    assert live.api.get(*ROUTE) == before
    forced = live.migrate(*SHIFT, "--ga-weight", "50", "--force")
    assert forced.returncode == 0, forced.stderr
    assert backends(live)[-1] == (GA_GROUP, GA_POOL, 50)


def test_refused_when_the_ga_pool_does_not_exist(live):
    done = live.migrate("shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", "nope",
                        "--ga-weight", "10")
    assert done.returncode == 3 and "GA InferencePool default/nope does not exist" in done.stderr


def test_a_route_without_the_pools_is_refused(live):
    done = live.migrate("shift", "--route", "llm-route", "--alpha-pool", "other", "--ga-pool", GA_POOL,
                        "--ga-weight", "10")
    assert done.returncode == 2 and "no backendRef points at the alpha pool other" in done.stderr


def test_a_route_changed_meanwhile_is_not_overwritten(live):
    live.api.fail("PATCH", "/httproutes/llm-route$", 409)
    before = copy.deepcopy(live.api.get(*ROUTE))
    done = live.migrate(*SHIFT, "--ga-weight", "50")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: shift HTTPRoute default/llm-route to GA weight 50:")
    assert live.api.get(*ROUTE) == before
    assert live.migrate(*SHIFT, "--ga-weight", "50").returncode == 0  # the re-run goes through


@pytest.mark.parametrize("weight", ["150", "-1", "x"])
def test_weight_out_of_range(live, weight):
    done = live.migrate(*SHIFT, "--ga-weight", weight)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr


def test_wait_reports_progress_until_accepted(live):
    live.api.controllers.clear()  # the controller is slow this time: it answers after a second

    def late_controller():
        time.sleep(1.5)
        with live.api.lock:
            gateway_controller()(live.api.get(*ROUTE))
    threading.Thread(target=late_controller, daemon=True).start()
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    assert "waiting for HTTPRoute llm-route generation" in done.stderr
    assert "Accepted and ResolvedRefs" in done.stderr


def test_wait_times_out_with_a_clear_message(live):
    live.api.controllers.clear()
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "2")
    assert done.returncode == 3
    assert "Accepted, ResolvedRefs not reported for generation" in done.stderr

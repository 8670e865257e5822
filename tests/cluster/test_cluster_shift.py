"""`shift`: only the two pools' backendRefs of the live HTTPRoute change; each refusal leaves it untouched."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import ALPHA_GROUP, ALPHA_RELEASE, FIXTURES, GA_GROUP, GatewayController, alpha_pool, ga_pool, put_serving

GA_POOL = f"{ALPHA_RELEASE}-ga"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
SHIFT = ["shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]


@pytest.fixture
def live(memory):
    cluster = memory
    """The alpha route live; the GA CRDs and a GA pool that the Gateway accepted."""
    cluster.api.load(
        FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
        FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml",
    )
    route = cluster.api.get(*ROUTE)
    # a second rule with another backend, a filter and a timeout: none of it may change
    route["spec"]["rules"].append(
        {
            "matches": [{"headers": [{"name": "x-canary", "value": "1"}]}],
            "filters": [
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-a", "value": "b"}]}}
            ],
            "timeouts": {"request": "300s"},
            "backendRefs": [
                {"name": "static-backend", "port": 80},
                {"group": ALPHA_GROUP, "kind": "InferencePool", "name": ALPHA_RELEASE, "weight": 3},
            ],
        }
    )
    cluster.api.load(FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml")
    cluster.api.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "static-backend", "namespace": "default"},
            "spec": {"ports": [{"port": 80}]},
        }
    )
    put_serving(cluster.api, alpha_pool())
    put_serving(cluster.api, ga_pool(GA_POOL))
    cluster.gateway = GatewayController()
    cluster.api.controllers.append(cluster.gateway)
    cluster.api.reconcile()
    return cluster


def backends(cluster, rule: int = 0):
    return [
        (b.get("group", ""), b["name"], b.get("weight"))
        for b in cluster.api.get(*ROUTE)["spec"]["rules"][rule]["backendRefs"]
    ]


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
        expected = ([] if weight == 100 else [(ALPHA_GROUP, ALPHA_RELEASE, 100 - weight)]) + [
            (GA_GROUP, GA_POOL, weight)
        ]
        assert backends(live) == expected
        rule = live.api.get(*ROUTE)["spec"]["rules"][1]
        # the other rule keeps its matches, filters, timeout and other backend
        assert {k: v for k, v in rule.items() if k != "backendRefs"} == {
            k: v for k, v in other_rule.items() if k != "backendRefs"
        }
        # the pools keep 3 parts to the static backend's 1 (weights scaled when the split needs it)
        static = rule["backendRefs"][0]
        assert {k: v for k, v in static.items() if k != "weight"} == {"name": "static-backend", "port": 80}
        assert sum(b["weight"] for b in rule["backendRefs"][1:]) == 3 * static.get("weight", 1)
    assert live.api.get(*ROUTE)["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_same_weight_twice_changes_nothing(live):
    live.migrate(*SHIFT, "--ga-weight", "50")
    version = live.api.get(*ROUTE)["metadata"]["resourceVersion"]
    done = live.migrate(*SHIFT, "--ga-weight", "50")
    assert done.returncode == 0 and "nothing to change" in done.stdout
    assert live.api.get(*ROUTE)["metadata"]["resourceVersion"] == version


def test_first_shift_adds_the_ga_pool_at_zero_then_applies_the_weights(live):
    """Issue 9.5: the README's order (GA release, then --ga-weight 50) works. A Gateway accepts a pool only once
    a route references it, so the route first gets the GA pool at weight 0, as in the guide's stage 2."""
    assert live.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_POOL)["status"]["parents"] == [], "not accepted yet"
    dry = live.migrate(*SHIFT, "--ga-weight", "50", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would add the GA pool" in dry.stderr and "+    weight: 50\n" in dry.stdout
    assert backends(live) == [(ALPHA_GROUP, ALPHA_RELEASE, None)], "the dry run changed nothing"
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "20")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    added = next(i for i, line in enumerate(lines) if f"added the GA pool {GA_POOL} at weight 0" in line)
    assert any("set GA weight 50" in line for line in lines[added:])
    assert backends(live) == [(ALPHA_GROUP, ALPHA_RELEASE, 50), (GA_GROUP, GA_POOL, 50)]
    assert "Accepted and ResolvedRefs" in done.stderr


def test_refused_while_the_gateway_has_not_accepted_the_ga_pool(live):
    """The route references the GA pool but the Gateway has not accepted it: nothing changes, exit 3."""
    live.migrate(*SHIFT, "--ga-weight", "0")
    live.gateway.paused = True
    pool = live.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_POOL)
    pool["status"] = {"parents": []}
    before = copy.deepcopy(live.api.get(*ROUTE))
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--timeout", "1")
    assert done.returncode == 3 and done.stdout == ""
    assert "not accepted by Gateway inference-gateway" in done.stderr and "nothing changed" in done.stderr
    assert live.api.get(*ROUTE) == before
    forced = live.migrate(*SHIFT, "--ga-weight", "50", "--force")
    assert forced.returncode == 0, forced.stderr
    assert backends(live)[-1] == (GA_GROUP, GA_POOL, 50)


def test_a_gateway_that_never_accepts_is_a_failure_after_the_change(live):
    """Issue 9.4: the route changed (GA pool added at 0), then the wait failed: exit 1 saying what changed."""
    live.gateway.paused = True
    done = live.migrate(*SHIFT, "--ga-weight", "100", "--timeout", "2")
    assert done.returncode == 1, done.stderr
    assert "now references the GA pool" in done.stderr and "at weight 0 (traffic unchanged)" in done.stderr
    assert backends(live) == [(ALPHA_GROUP, ALPHA_RELEASE, 100), (GA_GROUP, GA_POOL, 0)]
    live.gateway.paused = False
    live.api.reconcile()
    assert live.migrate(*SHIFT, "--ga-weight", "100").returncode == 0  # the same command finishes
    assert backends(live) == [(GA_GROUP, GA_POOL, 100)]


def test_going_back_is_refused_once_the_alpha_pool_is_gone(live):
    """Issue 9.2: with the alpha pool deleted, a shift that gives it traffic is refused and changes nothing."""
    assert live.migrate(*SHIFT, "--ga-weight", "100").returncode == 0
    live.api.objects.pop((ALPHA_GROUP, "inferencepools", "default", ALPHA_RELEASE))
    before = copy.deepcopy(live.api.get(*ROUTE))
    for weight in ("30", "0"):
        done = live.migrate(*SHIFT, "--ga-weight", weight, "--wait", "--timeout", "2")
        assert done.returncode == 3, done.stderr
        assert f"alpha InferencePool default/{ALPHA_RELEASE}, which does not exist; nothing changed" in done.stderr
        assert live.api.get(*ROUTE) == before


def test_refused_while_a_pool_s_epp_is_missing(live):
    live.api.objects.pop(("apps", "deployments", "default", f"{GA_POOL}-epp"))
    before = copy.deepcopy(live.api.get(*ROUTE))
    done = live.migrate(*SHIFT, "--ga-weight", "10", "--force")
    assert done.returncode == 3 and f"EPP Deployment {GA_POOL}-epp does not exist" in done.stderr
    assert live.api.get(*ROUTE) == before


def test_refused_when_the_ga_pool_does_not_exist(live):
    done = live.migrate(
        "shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", "nope", "--ga-weight", "10"
    )
    assert (
        done.returncode == 3 and "GA InferencePool default/nope, which does not exist; nothing changed" in done.stderr
    )


def test_a_route_without_the_pools_is_refused(live):
    done = live.migrate(
        "shift", "--route", "llm-route", "--alpha-pool", "other", "--ga-pool", GA_POOL, "--ga-weight", "10"
    )
    assert done.returncode == 2 and "no backendRef points at the alpha pool other" in done.stderr


def test_a_route_changed_meanwhile_is_not_overwritten(live):
    """Another writer edits the route's rules between the shift's read and its write (a timeout on the first rule,
    which the shift does not touch). The shift's patch tests the resourceVersion it read, so the stale write is
    refused and the route read again: the other writer's edit survives, and the weights are the shift's."""
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0

    def edit(api) -> None:
        route = copy.deepcopy(api.get(*ROUTE))
        route["spec"]["rules"][0]["timeouts"] = {"request": "301s"}
        api.put(route)  # a new resourceVersion, as a real server gives any write

    live.api.meanwhile.append(("PATCH", "/httproutes/llm-route$", edit))
    done = live.migrate(*SHIFT, "--ga-weight", "50")
    assert not live.api.meanwhile, "the edit was not staged"
    assert done.returncode == 0, done.stderr
    assert "changed since it was read: reading it again" in done.stderr
    rule = live.api.get(*ROUTE)["spec"]["rules"][0]
    assert rule["timeouts"] == {"request": "301s"}, "the other writer's edit was overwritten"
    assert [(ref["group"], ref["weight"]) for ref in rule["backendRefs"]] == [(ALPHA_GROUP, 50), (GA_GROUP, 50)]


@pytest.mark.parametrize("weight", ["150", "-1", "x"])
def test_weight_out_of_range(live, weight):
    done = live.migrate(*SHIFT, "--ga-weight", weight)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr


def test_wait_reports_progress_until_accepted(live):
    """Progress lines while the route waits for its Gateway; the controller answers after the first wait."""
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0
    live.gateway.paused = True  # the controller is slow this time: it answers once the tool has waited

    def answer() -> None:
        live.gateway.paused = False
        live.api.reconcile()

    live.clock.on_sleep.append(answer)
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    assert "... waiting: HTTPRoute llm-route generation 3: Accepted not reported" in done.stderr
    assert "Accepted and ResolvedRefs" in done.stderr and live.clock.slept == 1.0


def test_wait_times_out_with_a_clear_message(live):
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0
    live.gateway.paused = True
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "2")
    assert done.returncode == 1, "the route changed: a failed wait is no refusal"
    assert "was changed (generation" in done.stderr and "Accepted not reported" in done.stderr


def test_wait_reports_a_missing_backend_as_the_gateway_does(live):
    """Issue 9.2: the timeout says what the route reports (ResolvedRefs False, BackendNotFound), not 'not reported'."""
    assert live.migrate(*SHIFT, "--ga-weight", "0").returncode == 0
    live.api.objects.pop(("", "services", "default", "static-backend"))
    done = live.migrate(*SHIFT, "--ga-weight", "50", "--wait", "--timeout", "2")
    assert done.returncode == 1
    assert "ResolvedRefs False (BackendNotFound: backend(s) not found: static-backend)" in done.stderr


def test_a_mistyped_ga_pool_is_named_with_both_flags(live):
    """Issue 20.5: once the route holds only the GA pool, a mistyped --ga-pool matches no backendRef; the error
    names both pool flags, not --alpha-pool alone."""
    assert live.migrate(*SHIFT, "--ga-weight", "100").returncode == 0
    done = live.migrate(
        "shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", "typo", "--ga-weight", "100"
    )
    assert done.returncode == 2 and "check --alpha-pool and --ga-pool" in done.stderr, done.stderr


def istio(live) -> None:
    """The guide's Gateway, served by Istio's controller instead of GKE's."""
    gateway = live.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    gateway["spec"]["gatewayClassName"] = "istio"
    live.api.put({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "istio"},
                  "spec": {"controllerName": "istio.io/gateway-controller"}})  # fmt: skip


def test_a_gateway_of_another_controller_is_refused_before_the_first_change(live):
    """Issue 23.5: GKE's controller serves v1 pools; Istio 1.27 served only the alpha group (kserve#5007). Before
    the GA pool first joins the route, a Gateway whose class is not GKE's is refused, unless vouched for."""
    istio(live)
    before = live.api.writes()
    done = live.migrate(*SHIFT, "--ga-weight", "0")
    assert done.returncode == 3 and live.api.writes() == before
    assert done.stderr.strip().splitlines() == [
        "Error: Gateway default/inference-gateway (GatewayClass istio, controller istio.io/gateway-controller): "
        "not GKE's Gateway controller; it must serve inference.networking.k8s.io/v1 InferencePools (Istio 1.27 served "
        "only the alpha group, and a pool moved to v1 there lost its traffic); once you know it does, pass "
        "--accept-gateway-class istio; nothing changed"
    ]
    done = live.migrate(*SHIFT, "--ga-weight", "0", "--accept-gateway-class", "istio")
    assert done.returncode == 0, done.stderr
    assert "accepted with --accept-gateway-class istio" in done.stderr
    assert live.migrate(*SHIFT, "--ga-weight", "50").returncode == 0, "checked once, as the GA pool joins the route"


def test_a_gateway_whose_class_is_missing_is_refused(live):
    gateway = live.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    gateway["spec"]["gatewayClassName"] = "gone"
    done = live.migrate(*SHIFT, "--ga-weight", "0")
    assert done.returncode == 3 and "(GatewayClass gone, controller unknown): no such GatewayClass" in done.stderr


def test_gke_s_controller_passes_and_says_so(live):
    done = live.migrate(*SHIFT, "--ga-weight", "0")
    assert done.returncode == 0, done.stderr
    assert (
        "Gateway default/inference-gateway (GatewayClass gke-l7-regional-external-managed, controller "
        "networking.gke.io/gateway): GKE's, which serves inference.networking.k8s.io/v1 InferencePools"
    ) in done.stderr


ABORT = ["abort", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]


def test_abort_sends_everything_back_to_the_alpha_pool_once(live):
    """Issue 23.3: from any stage, every request back on the alpha pool (the GA pool stays, at weight 0, in each
    rule that had the pools); a second abort changes nothing."""
    assert live.migrate(*SHIFT, "--ga-weight", "50").returncode == 0
    done = live.migrate(*ABORT)
    assert done.returncode == 0, done.stderr
    assert backends(live) == [(ALPHA_GROUP, ALPHA_RELEASE, 100), (GA_GROUP, GA_POOL, 0)]
    assert "Accepted and ResolvedRefs" in done.stderr  # it waited for the Gateway to report it
    writes = len(live.api.writes())
    again = live.migrate(*ABORT)
    assert again.returncode == 0 and "all traffic on the alpha pool vllm-llama3-8b-instruct already" in again.stdout
    assert len(live.api.writes()) == writes


def test_abort_is_refused_once_the_alpha_pool_is_gone(live):
    assert live.migrate(*SHIFT, "--ga-weight", "100").returncode == 0
    live.api.objects.pop((ALPHA_GROUP, "inferencepools", "default", ALPHA_RELEASE))
    writes = len(live.api.writes())
    done = live.migrate(*ABORT)
    assert done.returncode == 3 and len(live.api.writes()) == writes
    assert f"the alpha InferencePool default/{ALPHA_RELEASE} is gone" in done.stderr


def test_abort_is_refused_when_the_gateway_does_not_accept_the_alpha_pool(live):
    assert live.migrate(*SHIFT, "--ga-weight", "50").returncode == 0
    pool = live.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE)
    pool["status"] = {"parent": [{"parentRef": {"name": "inference-gateway"},
                                  "conditions": [{"type": "Accepted", "status": "False", "reason": "Invalid"}]}]}  # fmt: skip
    done = live.migrate(*ABORT)
    assert done.returncode == 3 and "reports the alpha InferencePool default/" in done.stderr
    assert backends(live)[0] == (ALPHA_GROUP, ALPHA_RELEASE, 50)


STATUS = ["status", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]


def test_status_says_the_stage_from_the_route(live):
    """Issue 23.3: the stage as the route's weights say it, the route's conditions and each pool's EPP."""
    before = live.migrate(*STATUS)
    assert before.returncode == 0, before.stderr
    assert before.stdout.startswith("HTTPRoute default/llm-route: not started (the GA pool is not on the route)")
    assert live.migrate(*SHIFT, "--ga-weight", "50").returncode == 0
    live.api.get("apps/v1", "Deployment", f"{GA_POOL}-epp")["status"] = {"readyReplicas": 1}  # as a kubelet says
    done = live.migrate(*STATUS, "-o", "json")
    found = json.loads(done.stdout)
    assert (found["stage"], found["ga_weight"]) == ("GA at 50%", 50)
    # the first rule 50/50; the second rule (x-canary) had weight 3 for the alpha pool: 50:50 of 3 is scaled to 3:3
    assert found["weights"] == {ALPHA_RELEASE: 53, GA_POOL: 53}
    assert found["route_conditions"] == ["Gateway inference-gateway: Accepted=True ResolvedRefs=True"]
    assert found["pools"][GA_POOL] == f"GA, accepted by inference-gateway; EPP {GA_POOL}-epp 1/1 ready"
    assert found["pools"][ALPHA_RELEASE] == f"alpha; EPP {ALPHA_RELEASE}-epp 0/1 ready"


def test_status_watch_writes_a_line_per_change_until_ctrl_c(live):
    """Not on a terminal: one line for each change (none for a read that changed nothing); Ctrl-C ends it, 0."""
    reads = []

    def meanwhile() -> None:  # what happens between the watch's reads: migrate moves the route, then Ctrl-C
        reads.append(1)
        if len(reads) == 1:
            route = live.api.get(*ROUTE)
            pools = [(ALPHA_GROUP, ALPHA_RELEASE), (GA_GROUP, GA_POOL)]
            for rule, weights in zip(route["spec"]["rules"], [(25, 75), (1, 3)], strict=True):
                others = [ref for ref in rule["backendRefs"] if ref.get("kind") != "InferencePool"]
                rule["backendRefs"] = others + [{"group": group, "kind": "InferencePool", "name": name, "weight": weight}
                                                for (group, name), weight in zip(pools, weights, strict=True)]  # fmt: skip
        if len(reads) == 3:
            raise KeyboardInterrupt

    live.clock.on_sleep.append(meanwhile)
    done = live.migrate(*STATUS, "--watch", "--interval", "1s")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and len(reads) == 3, lines
    assert "not started" in lines[0] and "GA at 75%" in lines[1]


def test_status_watch_on_a_terminal_draws_in_place(emulator):
    """On a pseudo-terminal the view is cleared and drawn again for each change; Ctrl-C ends it with 0."""
    import os
    import pty
    import select
    import signal
    import subprocess

    from conftest import MIGRATE

    emulator.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
                      FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml")  # fmt: skip
    put_serving(emulator.api, alpha_pool())
    master, slave = pty.openpty()
    child = subprocess.Popen([str(MIGRATE), *STATUS, "--watch", "--interval", "200ms"], stdin=slave, stdout=slave,
                             stderr=slave, env=emulator.env)  # fmt: skip
    os.close(slave)
    seen = b""

    def read_until(count: int) -> None:
        nonlocal seen
        deadline = 30.0
        while seen.count(b"\x1b[H\x1b[2J") < count and deadline > 0:
            ready, _, _ = select.select([master], [], [], 0.5)
            deadline -= 0.5
            if ready:
                seen += os.read(master, 65536)

    try:
        read_until(1)
        assert b"HTTPRoute default/llm-route: not started" in seen, seen
        route = emulator.api.get(*ROUTE)
        route["spec"]["rules"][0]["backendRefs"][0]["weight"] = 7  # someone changes the route: drawn again
        read_until(2)
        assert seen.count(b"\x1b[H\x1b[2J") == 2 and b"weight  vllm-llama3-8b-instruct: 7" in seen, seen
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)

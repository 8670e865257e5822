"""Faults at each step of `migrate`, `shift` and `cleanup`: the API answering 500, 409 or 403, timing out, or
going away. Each run stops with one line naming the step, deletes nothing that is not in the backup, and the
same command run again finishes the job. The matrix is printed at the end of the test run.

The tool runs in this process with its kubectl answered in process by the emulator, and the real Helm talks to
that emulator over loopback (`cluster` below); test_each_fault_through_the_real_kubectl runs each fault through
the real kubectl and the installed entry point."""

from __future__ import annotations

import copy

import pytest
import yaml
from completions import server  # noqa: F401
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP, accept, alpha_pool, ga_pool, put_serving, state_file
from test_cluster_cleanup import migrated  # noqa: F401  (the fixture: the route already at GA weight 100)
from test_cluster_migrate import assert_zero_downtime_done, start, started  # noqa: F401  (start: a fixture)

# fault -> (status, seconds the API hangs first); 0 closes the connection without an answer
FAULTS = {"500": (500, 0.0), "409": (409, 0.0), "403": (403, 0.0), "timeout": (504, 2.0), "gone": (0, 0.0)}
MATRIX: dict[tuple[str, str], dict[str, str]] = {}
GA_POOL = f"{ALPHA_RELEASE}-ga"


@pytest.fixture
def cluster(emulator_in_process):
    """The matrix runs migrate some 250 times: in this process, its kubectl answered in process by the emulator
    that the real Helm talks to (conftest.InProcessCluster). test_each_fault_through_the_real_kubectl keeps what
    the real kubectl makes of each fault."""
    return emulator_in_process


# In process, a kubectl call that meets a fault fails the same way whatever the fault (kubectl's error line, exit
# 1: tests/memory_kubectl.py), so a step whose failing call is kubectl's meets one fault here, and every kind of
# fault goes through the real kubectl in test_each_fault_through_the_real_kubectl. A step whose failing call is
# Helm's meets every fault: Helm handles each its own way (retries, waits, the release record it leaves).
HELM_CALLS = {"ga-release", "helm"}


def faulted(keys, faults=tuple(FAULTS)) -> list:
    """(key, fault) for each step key: every fault where Helm makes the failing call, else the first."""
    return [(key, fault) for key in keys for fault in (faults if key in HELM_CALLS else faults[:1])]


def record(command: str, step: str, fault: str) -> None:
    MATRIX.setdefault((command, step), {})[fault] = "ok"


def objects(api) -> dict:
    return {key: copy.deepcopy(obj) for key, obj in api.objects.items()}


def nothing_lost(before: dict, after: dict, backup) -> None:
    """Every object that is gone is in the backup."""
    gone = {
        (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for key, obj in before.items()
        if key not in after
    }
    saved = set()
    if backup.exists():
        saved = {
            (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
            for o in yaml.safe_load(backup.read_text())["items"]
        }
    assert gone <= saved, f"deleted without a backup: {sorted(gone - saved)}"


def run_with_fault(
    cluster, fault: str, method: str, path: str, args: list[str], step: str, backup=None, dry_run: bool | None = None
):
    status, hang = FAULTS[fault]
    cluster.env["INFGW_REQUEST_TIMEOUT"] = "1s"
    before = objects(cluster.api)
    injected = cluster.api.fail(method, path, status, times=None, hang=hang, dry_run=dry_run)
    done = cluster.migrate(*args)
    cluster.api.faults.remove(injected)
    lines = done.stderr.strip().splitlines()
    assert done.returncode not in (0, 2), f"the fault went unnoticed: {done.stderr}"
    assert lines and lines[-1].startswith("Error: ") and step in lines[-1], done.stderr
    assert "Traceback" not in done.stderr and "test-token-not-a-secret" not in done.stderr + done.stdout
    if backup is not None:
        nothing_lost(before, cluster.api.objects, backup)
    again = cluster.migrate(*args)
    assert again.returncode == 0, again.stderr
    return done


# -- migrate --------------------------------------------------------------------------------------------------
MIGRATE_STEPS = {  # step key: (what the error names, the call that fails)
    "prepare": ("before any step (reading the cluster)", "GET", r"/inferencemodels$"),
    "backup": ("back up the alpha stack", "GET", r"/deployments/vllm-llama3-8b-instruct-epp$"),
    "crds": ("install the GA CRDs", "POST", r"/customresourcedefinitions$"),
    "ga-release": (
        "install the GA release",
        "POST",
        r"inference.networking.k8s.io/v1/namespaces/default/inferencepools",
    ),
    "stage-0": ("send 0% of llm-route", "PATCH", r"/httproutes/llm-route$"),
    "remove-alpha": ("remove the alpha stack", "DELETE", r"/inferencemodels/"),
}


def migrate_with_fault(cluster, key: str, fault: str):
    """A zero-downtime migrate that meets `fault` at MIGRATE_STEPS[key], then the same command: it finished."""
    step, method, path = MIGRATE_STEPS[key]
    # two stages: every step still runs (the 50% split and its PROGRAMMED check are test_cluster_migrate's)
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,100", *cluster.args]
    backup = state_file(cluster, "backup")
    done = run_with_fault(cluster, fault, method, path, args, step, backup=backup)
    assert_zero_downtime_done(cluster)
    return done


@pytest.mark.parametrize("key, fault", faulted(MIGRATE_STEPS))
def test_migrate(start, key, fault):
    migrate_with_fault(start, key, fault)
    record("migrate", key, fault)


# Each fault once through the real kubectl and the tool's own process (the installed entry point), each at a
# kubectl call of another verb (the matrix above answers kubectl in process): what kubectl prints for a 500, a 409,
# a 403, a request that outlives --request-timeout and a dropped connection is still the step's failure, resumed.
REAL_KUBECTL = [
    ("prepare", "500"),
    ("stage-0", "409"),
    ("backup", "403"),
    ("crds", "timeout"),
    ("remove-alpha", "gone"),
]


@pytest.mark.parametrize("key, fault", REAL_KUBECTL, ids=[f"{key}-{fault}" for key, fault in REAL_KUBECTL])
def test_each_fault_through_the_real_kubectl(emulator, server, tmp_path, key, fault):  # noqa: F811
    done = migrate_with_fault(started(emulator, server, tmp_path), key, fault)
    # kubectl's own words for the fault: it gave up before the server answered (Go says so one way or the other,
    # by where the deadline found the request), or the connection dropped
    says = {
        "timeout": ('timeout=1s": context deadline exceeded', "(Client.Timeout exceeded while awaiting headers)"),
        "gone": ('timeout=1s": EOF',),
    }.get(fault, (f"injected fault {fault}",))
    assert any(words in done.stderr.splitlines()[-1] for words in says), done.stderr
    record("migrate, real kubectl", key, fault)


# -- shift ----------------------------------------------------------------------------------------------------
@pytest.fixture
def live(cluster):
    from conftest import FIXTURES

    cluster.api.load(
        FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
        FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml",
        FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml",  # its GatewayClass is GKE's (conftest starting_api)
    )
    put_serving(cluster.api, alpha_pool())
    put_serving(cluster.api, accept(ga_pool(GA_POOL)))
    return cluster


# the call that fails: (what the error names, method, path). The route, its Gateway and the pools are read in one
# call (kube's reads together): a failure of any of them names the first read of that judgement.
SHIFT_STEPS = {
    "read HTTPRoute": ("read HTTPRoute", "GET", r"/namespaces/default/httproutes$"),
    "read the InferencePools": (
        "read HTTPRoute",
        "GET",
        r"inference.networking.k8s.io/v1/namespaces/default/inferencepools$",
    ),
    # the route does not reference the GA pool yet: the first write adds it at weight 0
    "add the GA pool": ("add the GA pool", "PATCH", r"/httproutes/llm-route$"),
}


@pytest.mark.parametrize("call, fault", faulted(SHIFT_STEPS))
def test_shift(live, call, fault):
    step, method, path = SHIFT_STEPS[call]
    route = ("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    before = copy.deepcopy(live.api.get(*route)["spec"])
    args = ["shift", "--route", "llm-route", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL, "--ga-weight", "50"]
    status, hang = FAULTS[fault]
    injected = live.api.fail(method, path, status, times=None, hang=hang)
    live.env["INFGW_REQUEST_TIMEOUT"] = "1s"
    done = live.migrate(*args)
    live.api.faults.remove(injected)
    assert done.returncode == 1 and step in done.stderr.splitlines()[-1], done.stderr
    assert live.api.get(*route)["spec"] == before, "a failed shift leaves the route as it was"
    assert live.migrate(*args).returncode == 0
    refs = live.api.get(*route)["spec"]["rules"][0]["backendRefs"]
    assert [(r["group"], r["weight"]) for r in refs] == [(ALPHA_GROUP, 50), (GA_GROUP, 50)]
    record("shift", call, fault)


# -- cleanup --------------------------------------------------------------------------------------------------
CLEANUP_STEPS = {  # as SHIFT_STEPS: the alpha and GA pools and the models are read together, at the first read
    "read the alpha pool": ("read the alpha pool", "GET", r"x-k8s.io/v1alpha2/namespaces/default/inferencepools$"),
    "list HTTPRoutes": ("list HTTPRoutes", "GET", r"/gateway.networking.k8s.io/v1/httproutes$"),
    "read the GA pool": (
        "read the alpha pool",
        "GET",
        r"inference.networking.k8s.io/v1/namespaces/default/inferencepools$",
    ),
    "list InferenceModels": ("read the alpha pool", "GET", r"/namespaces/default/inferencemodels$"),
    "helm": ("helm", "DELETE", r"/deployments/"),
    "delete the alpha objects": ("delete the alpha objects", "DELETE", r"/inferencemodels/"),
}


@pytest.mark.parametrize("call, fault", faulted(CLEANUP_STEPS))
def test_cleanup(migrated, tmp_path, call, fault):
    step, method, path = CLEANUP_STEPS[call]
    backup = tmp_path / "backup.yaml"
    args = ["cleanup", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL, "--backup", str(backup)]
    run_with_fault(migrated, fault, method, path, args, step, backup=backup)
    assert migrated.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE) is None
    assert migrated.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceModel") == []
    record("cleanup", call, fault)


# -- the simple path ------------------------------------------------------------------------------------------
SIMPLE_STEPS = {  # step key: (what the error names, the call that fails); every write of the path, in order
    "backup": MIGRATE_STEPS["backup"],
    # the outage has begun: Helm has uninstalled the alpha release when the InferenceModels' deletion fails
    "remove-alpha": MIGRATE_STEPS["remove-alpha"],
    "remove-alpha-crds": ("remove the alpha stack", "DELETE", r"/customresourcedefinitions/inferencemodels"),
    "check-crds": ("check that the GA CRD files", "POST", r"/customresourcedefinitions$"),
    "crds": MIGRATE_STEPS["crds"],
    "ga-release": MIGRATE_STEPS["ga-release"],
    "stage-100": ("send 100% of llm-route", *MIGRATE_STEPS["stage-0"][1:]),
}


def assert_simple_done(cluster) -> None:
    route = cluster.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (GA_GROUP, ALPHA_RELEASE, 100)
    ]
    pool = cluster.api.get(f"{GA_GROUP}/v1", "InferencePool", ALPHA_RELEASE)
    assert pool["spec"]["selector"] == {"matchLabels": {"app": ALPHA_RELEASE}}
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    objectives = {o["metadata"]["name"] for o in cluster.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceObjective")}
    assert objectives == {"food-review", "base-model", "base-model-cpu"}
    # the v0.3.0 InferenceModel CRD is gone; v1.0.0's bundle (the guide's) brings the v1alpha2 InferencePool CRD back
    assert (
        cluster.api.get(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition", "inferencemodels.inference.networking.x-k8s.io"
        )
        is None
    )


@pytest.mark.parametrize("key, fault", faulted(SIMPLE_STEPS, ("500", "403", "gone")))
def test_simple_path(start, key, fault):
    """Issue 20.1: a fault at each write of the simple path, then the same command: it finishes the job, from the
    cluster and the run's own state once the alpha stack (and with it the selector and port) is gone."""
    step, method, path = SIMPLE_STEPS[key]
    args = [
        "migrate",
        "--path",
        "simple",
        *[a for a in start.args if not a.startswith("inferencePool.") and a != "--set"],
    ]
    run_with_fault(
        start,
        fault,
        method,
        path,
        args,
        step,
        dry_run={"check-crds": True, "crds": False}.get(key),
        backup=state_file(start, "backup"),
    )
    assert_simple_done(start)
    before = len(start.api.requests)
    assert start.migrate(*args).returncode == 0, "a finished run, run again"
    assert not start.api.writes(before), "a finished run changes nothing"
    record("migrate --path simple", key, fault)


@pytest.mark.parametrize("major", [3, 4])
def test_a_half_installed_ga_release_of_the_run_is_installed_again(start, major):
    """Issue 20.2 and 20.3: Helm's last write of its release record (pending-install -> deployed) fails. Helm 3
    fails the step; Helm 4 only logs it and exits 0, so the step is judged from the cluster, which still says
    pending-install. The same command then uninstalls the release it began (no traffic reaches it) and installs
    it again, saying so. A pending release the user made is still refused (test_cluster_safety)."""
    from conftest import tool

    env = {"HELM_BIN": tool(f"helm{major}")}
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,100", *start.args]
    record_write = start.api.fail("PUT", rf"/secrets/sh.helm.release.v1.{GA_POOL}.v1$", 500, times=None)
    done = start.migrate(*args, env_extra=env)
    start.api.faults.remove(record_write)
    assert done.returncode == 1, done.stderr
    assert "install the GA release" in done.stderr.splitlines()[-1]
    if major == 4:
        assert "exited 0, but the cluster does not show the step done" in done.stderr.splitlines()[-1]
    again = start.migrate(*args, env_extra=env)
    assert again.returncode == 0, again.stderr
    assert "this migration began installing it and no traffic reaches it" in again.stderr
    assert f"+ helm uninstall {GA_POOL} -n default" in again.stderr
    assert_zero_downtime_done(start)


# -- issue 31.4: what an independent emulator found, each followed by the same command ---------------------------
# (path, what the error names, method, path of the failing call, matching calls let through first, dry runs)
RESUMED = {
    # the worst case: the outage has begun (alpha stack and CRDs gone) when the bundle's second CRD write fails
    "simple, a CRD write after the alpha stack went": ("simple", "install the GA CRDs", "POST",
                                                       r"/customresourcedefinitions$", 1, False),
    # the GA release's objectives: Helm writes them after the pool
    "simple, an objective of the GA release": ("simple", "install the GA release", "POST", r"/inferenceobjectives$", 1,
                                               None),
    "zero-downtime, an objective of the GA release": ("zero-downtime", "install the GA release", "POST",
                                                      r"/inferenceobjectives$", 1, None),
    # the bundle's update of the v0.3.0 alpha pool CRD fails after its first two CRDs were made
    "zero-downtime, a CRD left old": ("zero-downtime", "install the GA CRDs", "PUT",
                                      r"/customresourcedefinitions/inferencepools.inference.networking.x-k8s.io$", 0,
                                      None),
}  # fmt: skip


@pytest.mark.parametrize("row", RESUMED)
def test_the_same_command_leaves_what_a_fault_free_run_leaves(start, row):
    from infgw_postrender.api.mapping import api
    from infgw_postrender.cluster.crds import applied_digest

    path, step, method, call, after, dry_run = RESUMED[row]
    stages = ["--stages", "0,100"] if path == "zero-downtime" else []
    args = ["migrate", "--path", path, *stages, *start.args]
    start.env["INFGW_REQUEST_TIMEOUT"] = "1s"
    injected = start.api.fail(method, call, 500, times=None, dry_run=dry_run, after=after)
    done = start.migrate(*args)
    start.api.faults.remove(injected)
    assert done.returncode not in (0, 2) and step in done.stderr.strip().splitlines()[-1], done.stderr
    again = start.migrate(*args)
    assert again.returncode == 0, again.stderr
    (assert_zero_downtime_done if path == "zero-downtime" else assert_simple_done)(start)
    pins = api().cluster.crd_pins["v1.0.0"]
    for name, pin in pins.items():  # every CRD of the bundle, at the bundle's content
        crd = start.api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
        assert crd is not None and applied_digest(crd) == pin, name
    record("migrate, issue 31.4", row, "500")


def test_an_objective_gone_after_the_release_is_made_again(start):
    """The GA release is judged done by every objective it must leave, not by Helm's record alone: one deleted
    between two runs (or never written) is made again by the same command."""
    args = ["migrate", "--path", "zero-downtime", *start.args]
    assert start.migrate(*args).returncode == 5  # stopped before traffic, the GA release installed
    gone = start.api.objects.pop((ALPHA_GROUP, "inferenceobjectives", "default", "base-model"))
    assert gone["spec"]["poolRef"]["name"] == GA_POOL
    again = start.migrate(*args, "--stages", "0,100")
    assert again.returncode == 0, again.stderr
    assert "done already: install the GA release" not in again.stderr
    assert_zero_downtime_done(start)

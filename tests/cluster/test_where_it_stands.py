"""Issue 31: `plan`, `status` and `migrate` tell one story of where a migration stands, judged from the cluster
(what `migrate` asks of each step before running it); refusals come before anything is read, and name the fix.
Against the emulator with the real kubectl and Helm (e2e); the real server's twins are in tests/realapi."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
from completions import server  # noqa: F401  (the completion server fixture)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP, state_file, tool
from test_cluster_migrate import GA_RELEASE, ROUTE, assert_zero_downtime_done, start  # noqa: F401  (fixtures)
from test_cluster_safety import writes

pytestmark = pytest.mark.e2e


def plan(cluster, *args: str) -> tuple[dict, str]:
    """`plan -o json` and the table, both: each step's state, and the words a person reads."""
    table = cluster.migrate("plan", *args)
    assert table.returncode == 0, table.stderr
    found = cluster.migrate("plan", *args, "-o", "json")
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout), table.stdout


def states(planned: dict) -> dict[str, str]:
    return {step["key"]: step["state"] for step in planned["steps"]}


def status(cluster, *args: str) -> dict:
    done = cluster.migrate("status", "--alpha-pool", ALPHA_RELEASE, "--state-dir", str(cluster.state), *args,
                           "-o", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_plan_status_and_migrate_agree_at_every_stage_of_the_zero_downtime_path(start):
    """31.2: before, half-way (a run asked to stop at 50%) and at the end, plan marks each step as migrate then
    judges it, status says the same stage and gives the command that goes on (the one migrate printed), and a
    finished migration is planned as nothing to do, exit 0 (it was exit 2, "no such v1alpha2 InferencePool")."""
    args = ["--path", "zero-downtime", *start.args]
    planned, _ = plan(start, *args, "--stages", "0,50")
    assert set(states(planned).values()) <= {"pending", "check"} and states(planned)["ga-release"] == "pending"
    assert status(start)["stage"] == "not started (the GA pool is not on the route)"

    half = start.migrate("migrate", *args, "--stages", "0,50")
    assert half.returncode == 5, half.stderr
    last = half.stderr.strip().splitlines()[-1]
    assert "all steps done" not in half.stderr, "one statement: it did not finish"
    assert last.startswith("... stopped at the last stage asked (50%): the migration is not finished (exit 5); "), last
    go_on = last.split("; to go on: ", 1)[1]
    assert go_on.endswith("--stages 0,50,100")
    seen = status(start)
    assert seen["stage"] == "GA at 50%"
    assert seen["next"][0] == f"to go on: {go_on}", "status gives the command migrate printed"
    back = shlex.split(seen["next"][1].removeprefix("to go back: "))
    assert back[:2] == ["infgw-migrate", "abort"] and back[back.index("--ga-pool") + 1] == GA_RELEASE
    planned, _ = plan(start, *args, "--stages", "0,50,100")
    assert states(planned) == {
        "backup": "check", "check-chart": "done", "crds": "done", "ga-release": "done", "stage-0": "done",
        "stage-50": "done", "programmed": "check", "stage-100": "pending", "verify": "check", "remove-alpha": "pending",
    }  # fmt: skip

    done = start.migrate(*shlex.split(go_on)[1:])  # the command status and migrate gave, as printed
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "... all steps done: the migration is finished"
    assert_zero_downtime_done(start)
    seen = status(start)
    assert (seen["stage"], seen["next"]) == ("finished", ["nothing: the migration is finished"])
    assert seen["pools"][GA_RELEASE].startswith("GA, accepted by inference-gateway")
    planned, table = plan(start, *args, "--stages", "0,50,100")
    assert "pending" not in states(planned).values()
    assert table.strip().splitlines()[-1].startswith("nothing to do: every step that changes the cluster is done")


def test_after_the_simple_path_status_says_finished_and_plan_has_nothing_to_do(start):
    """31.2: the simple path's GA pool takes the alpha pool's name; status finds it from the route, not only as
    ALPHA-POOL-ga (it said "not started", both pools "not there")."""
    args = ["--path", "simple", *start.args]
    assert start.migrate("migrate", *args).returncode == 0
    seen = status(start)
    assert seen["stage"] == "finished" and seen["weights"] == {ALPHA_RELEASE: 100}
    assert seen["pools"][ALPHA_RELEASE].startswith("GA, accepted by inference-gateway"), seen["pools"]
    assert seen["next"] == ["nothing: the migration is finished"]
    planned, table = plan(start, *args)
    assert "pending" not in states(planned).values(), planned
    assert "nothing to do" in table


def test_a_mistyped_alpha_pool_is_refused_alike_by_plan_migrate_and_status(start):
    """31.3: migrate gave "pass --set ...", marked the backup done with no file written, and every re-run then
    failed on a models file it never wrote. Now plan and migrate say the same "found:" line, exit 2, write no
    state file and change nothing; status names the pools the route does send traffic to."""
    before = len(start.api.requests)
    typo = [a if a != ALPHA_RELEASE else "vllm-llama3-8b" for a in start.args]
    expected = (f"Error: before any step (reading the cluster): --alpha-pool vllm-llama3-8b: no such v1alpha2 "
                f"InferencePool in default (found: {ALPHA_RELEASE}); nothing was changed")  # fmt: skip
    for command in ("plan", "migrate"):
        done = start.migrate(command, "--path", "zero-downtime", "--stages", "0,100", *typo)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines()[-1] == expected, command
    assert list(start.state.iterdir()) == [] and writes(start.api, before) == []
    seen = start.migrate("status", "--alpha-pool", "vllm-llama3-8b")
    assert seen.returncode == 2 and seen.stdout == ""
    assert seen.stderr.strip() == (
        f"Error: --alpha-pool vllm-llama3-8b --ga-pool vllm-llama3-8b-ga: HTTPRoute default/llm-route sends traffic "
        f"to neither; it sends traffic to {ALPHA_RELEASE} (alpha): pass those pools (or --route, -n)"
    )


def test_status_flags_what_would_stop_traffic(start):
    """31.2: an EPP with no ready pod, and a route no Gateway has reported on."""
    start.api.controllers.clear()  # the Gateway controller is gone: nobody reports on the route
    start.api.get("apps/v1", "Deployment", f"{ALPHA_RELEASE}-epp")["status"] = {"readyReplicas": 0}
    start.api.get(*ROUTE)["status"] = {"parents": []}
    seen = status(start)
    assert f"the alpha pool {ALPHA_RELEASE}'s EPP has no ready pod: requests to it fail" in seen["warnings"]
    assert any(w.startswith("no Gateway has reported on HTTPRoute default/llm-route") for w in seen["warnings"])
    table = start.migrate("status", "--alpha-pool", ALPHA_RELEASE).stdout
    assert "warning: the alpha pool" in table and "\nnext: to go on: infgw-migrate migrate -n default " in table


def test_a_kubeconfig_that_is_not_there_is_named_before_anything_runs(start, tmp_path):
    """31.3: KUBECONFIG naming no file made kubectl try localhost:8080 ("connection refused"); through Helm,
    `helm infgw-migrate ... --kubeconfig FILE` arrives as KUBECONFIG=FILE."""
    missing = str(tmp_path / "no-such-kubeconfig")
    for env in ({"KUBECONFIG": missing}, {}):
        extra = [] if env else ["--kubeconfig", missing]
        done = start.migrate("migrate", "--path", "simple", *start.args, *extra, env_extra=env)
        assert done.returncode == 2, done.stderr
        assert missing in done.stderr and "no such file" in done.stderr and "localhost:8080" not in done.stderr


@pytest.mark.parametrize("major", [3, 4])
def test_through_helm_a_missing_kubeconfig_is_named(start, tmp_path, major):
    """Helm consumes its own --kubeconfig and hands the plugin KUBECONFIG (MIGRATION.md): the same one line."""
    from conftest import MIGRATE

    plugins = tmp_path / "plugins"
    (plugins / "infgw-migrate").mkdir(parents=True)
    # the plugin as `helm plugin install` leaves it, with its command pointed at the installed entry point
    (plugins / "infgw-migrate" / "plugin.yaml").write_text(
        f"name: infgw-migrate\nversion: 0.1.0\nusage: test\ndescription: test\ncommand: {MIGRATE}\n"
    )
    env = {**start.env, "HELM_PLUGINS": str(plugins), "HELM_BIN": tool(f"helm{major}")}
    missing = str(tmp_path / "no-such-kubeconfig")
    done = subprocess.run([tool(f"helm{major}"), "infgw-migrate", "plan", "--path", "simple", *start.args,
                           "--kubeconfig", missing], capture_output=True, text=True, env=env)  # fmt: skip
    assert done.returncode != 0
    assert f"Error: KUBECONFIG {missing}: no such file; pass --kubeconfig" in done.stderr, done.stderr
    assert "localhost:8080" not in done.stderr


def test_a_gke_cluster_without_gke_s_crds_names_the_choice_before_any_change(start):
    """31.3: the server says GKE, so provider.name=gke would be set; without GKE's policy CRDs (and v1.0.0's
    ClusterPodMonitoring) the GA release failed at step 4, after earlier steps had run."""
    for name in ("healthcheckpolicies.networking.gke.io", "clusterpodmonitorings.monitoring.googleapis.com"):
        start.kubectl("delete", "crd", name)
    before = len(start.api.requests)
    for command in ("plan", "migrate"):
        done = start.migrate(command, "--path", "zero-downtime", "--stages", "0,100", *start.args)
        assert done.returncode == 2, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert "provider.name=gke (the cluster is GKE): chart v1.0.0 then renders objects of " in last, last
        assert "healthcheckpolicies.networking.gke.io, clusterpodmonitorings.monitoring.googleapis.com" in last
        assert "pass --set provider.name=none, or install those CRDs; nothing was changed" in last
    assert writes(start.api, before) == [] and list(start.state.iterdir()) == []
    planned, _ = plan(start, "--path", "zero-downtime", *start.args, "--set", "provider.name=none")
    assert planned["steps"][0]["key"] == "backup"


def test_a_stale_discovery_cache_is_a_kind_the_server_lacks(emulator, monkeypatch):
    """31.4, the worst case: once the simple path had deleted the alpha CRDs, kubectl (its discovery cached in
    ~/.kube/cache) listed InferenceModels anyway and said, as the real kubectl 1.35 says on a real server,
    `Error from server (NotFound): Unable to list "inference.networking.x-k8s.io/v1alpha2, Resource=
    inferencemodels": the server could not find the requested resource`. The tool took that for a failed read
    and refused every re-run, leaving the route on the alpha pool whose EPP was gone. It is a kind the server
    lacks: no alpha pool, no models."""
    from conftest import FIXTURES

    from infgw_postrender.api.mapping import api
    from infgw_postrender.cluster import kube
    from infgw_postrender.cluster.cleanup import pool_models
    from infgw_postrender.cluster.kube import Kubectl, forget_reads

    emulator.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    for key, value in emulator.env.items():
        monkeypatch.setenv(key, value)
    for name in ("_UNSERVED", "_ALONE"):  # what this process learnt of other servers
        monkeypatch.setattr(kube, name, set())
    kubectl = Kubectl(tool("kubectl"), None, "default")
    resources = api().cluster.resources
    assert kubectl.find(resources.alpha_pool, ALPHA_RELEASE, "default", "read the alpha pool") is None  # cached
    emulator.kubectl("delete", "crd", resources.alpha_model)  # as cleanup --delete-unused-crds does
    forget_reads()
    listed = emulator.kubectl("get", "inferencemodels.v1alpha2.inference.networking.x-k8s.io", check=False)
    assert 'Unable to list "inference.networking.x-k8s.io/v1alpha2, Resource=inferencemodels"' in listed.stderr
    forget_reads()
    assert pool_models(kubectl, ALPHA_RELEASE, "default") == []
    forget_reads()
    assert kubectl.find(resources.ga_pool, GA_RELEASE, "default", "read the GA pool") is None


def test_crd_files_are_judged_whole(start):
    """31.4: a fault between two CRDs of the bundle left one out (the simple path: its v1alpha2 InferencePool
    CRD, which a fault-free run leaves) or at the older release (zero-downtime: the v0.3.0 alpha pool CRD). The
    crds step is done only when every CRD of the bundle holds the bundle's content."""
    from infgw_postrender.cluster.crds import applied_digest

    args = ["migrate", "--path", "zero-downtime", "--stages", "0,100", *start.args]
    # the bundle's third CRD (the v1alpha2 InferencePool, an update of v0.3.0's) fails; the first two were made
    fault = start.api.fail("PATCH", r"/customresourcedefinitions/inferencepools.inference.networking.x-k8s.io$", 500,
                           times=None)  # fmt: skip
    done = start.migrate(*args)
    start.api.faults.remove(fault)
    assert done.returncode == 1 and "install the GA CRDs" in done.stderr.splitlines()[-1], done.stderr
    again = start.migrate(*args)
    assert again.returncode == 0, again.stderr
    assert "done already: install the GA CRDs" not in again.stderr
    crd = start.api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"inferencepools.{ALPHA_GROUP}")
    ga = start.api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"inferencepools.{GA_GROUP}")
    assert applied_digest(crd) is not None and applied_digest(ga) is not None
    from infgw_postrender.api.mapping import api

    pins = api().cluster.crd_pins["v1.0.0"]
    assert applied_digest(crd) == pins[f"inferencepools.{ALPHA_GROUP}"], "left at v0.3.0's content"

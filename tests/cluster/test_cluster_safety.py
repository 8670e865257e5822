"""Issue 9: the cluster paths, tried as a user would, with re-runs, half-done states and a second namespace,
against a Gateway that accepts a pool only once a route names it and an API server that validates against
the CRD schemas. Each test is a finding of that issue; it failed on the code before the fix."""

from __future__ import annotations

import base64
import gzip
import json
import shlex
import signal
import subprocess

import pytest
import yaml
from completions import server  # noqa: F401
from conftest import ALPHA_GROUP, ALPHA_RELEASE, CHARTS, FIXTURES, GA_GROUP, MIGRATE, state_file, tool
from test_cluster_migrate import GA_RELEASE, ROUTE, assert_zero_downtime_done, helm_status, start  # noqa: F401

ZERO = ["migrate", "--path", "zero-downtime", "--stages", "0,50,100"]
SELECTOR_SET = ["--set", f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}"]


def writes(api, since: int) -> list[tuple[str, str]]:
    return api.writes(since)


def route_backends(api, namespace: str = "default") -> list[tuple]:
    route = api.get(*ROUTE, namespace) if namespace != "default" else api.get(*ROUTE)
    return [(b.get("group"), b["name"], b.get("weight")) for b in route["spec"]["rules"][0]["backendRefs"]]


def without_selector(args: list[str]) -> list[str]:
    at = args.index(SELECTOR_SET[1])
    return args[: at - 1] + args[at + 1 :]


def test_a_rerun_after_a_half_done_cleanup_never_routes_to_the_deleted_pool(start):
    """9.1: step 'remove the alpha stack' fails after `helm uninstall` removed the alpha pool; the re-run the
    error advises finishes without writing the route again (before: 0% stage, alpha=100 to a deleted pool)."""
    fault = start.api.fail("DELETE", r"/inferencemodels/", 403, times=None)
    done = start.migrate(*ZERO, *start.args)
    start.api.faults.remove(fault)
    assert done.returncode == 1 and "remove the alpha stack" in done.stderr.splitlines()[-1], done.stderr
    assert start.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE) is None, "helm uninstall ran"
    assert "(and 2 more like it)" in done.stderr, "one 403 a model, said once"
    before = len(start.api.requests)
    again = start.migrate(*ZERO, *start.args)
    assert again.returncode == 0, again.stderr
    assert not [w for w in writes(start.api, before) if "httproutes" in w[1]], "the re-run wrote the route"
    assert route_backends(start.api) == [(GA_GROUP, GA_RELEASE, 100)]
    assert_zero_downtime_done(start)


def test_another_namespace_gets_its_own_objectives_and_backup(start):
    """9.3: after default is migrated, team-b's pool of the same name, from the same --state-dir."""
    assert start.migrate(*ZERO, *start.args).returncode == 0
    default_backup = state_file(start, "backup")
    saved = default_backup.read_bytes()
    start.api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    installed = subprocess.run(
        [tool("helm3"), "install", ALPHA_RELEASE, str(CHARTS / "inferencepool-v0.3.0"), "-n", "team-b", *SELECTOR_SET],
        capture_output=True,
        text=True,
        env=start.env,
    )
    assert installed.returncode == 0, installed.stderr
    gateway = yaml.safe_load((FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml").read_text())
    gateway["metadata"]["namespace"] = "team-b"
    gateway["status"] = {
        "addresses": [{"value": "127.0.0.1"}],
        "conditions": [{"type": "Programmed", "status": "True"}],
    }
    start.api.put(gateway)
    route = yaml.safe_load((FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml").read_text())
    route["metadata"]["namespace"] = "team-b"
    start.kubectl("apply", "-f", "-", input=json.dumps(route))
    start.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(
            {
                "apiVersion": f"{ALPHA_GROUP}/v1alpha2",
                "kind": "InferenceModel",
                "metadata": {"name": "teamb-chat", "namespace": "team-b"},
                "spec": {"modelName": "teamb-chat", "criticality": "Critical", "poolRef": {"name": ALPHA_RELEASE}},
            }
        ),
    )

    # chart v1.0.0's ClusterRole is named after the release, cluster-wide: team-b's GA release needs its own name
    done = start.migrate(*ZERO, "-n", "team-b", "--ga-release", "team-b-ga", *start.args)
    assert done.returncode == 0, done.stderr
    objectives = {
        (o["metadata"]["namespace"], o["metadata"]["name"]): o["spec"]
        for o in start.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceObjective")
    }
    assert {name for namespace, name in objectives if namespace == "team-b"} == {"teamb-chat"}
    assert objectives[("team-b", "teamb-chat")]["poolRef"] == {"group": GA_GROUP, "name": "team-b-ga"}
    assert {name for namespace, name in objectives if namespace == "default"} == {
        "food-review",
        "base-model",
        "base-model-cpu",
    }
    assert default_backup.read_bytes() == saved, "default's backup is not team-b's"
    team_b = yaml.safe_load(state_file(start, "backup", "team-b").read_text())["items"]
    kept = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in team_b}
    assert ("InferencePool", "team-b", ALPHA_RELEASE) in kept and ("InferenceModel", "team-b", "teamb-chat") in kept
    assert not {k for k in kept if k[1] == "default"}
    assert route_backends(start.api, "team-b") == [(GA_GROUP, "team-b-ga", 100)]


def test_a_state_file_of_another_migration_is_never_trusted(start):
    elsewhere = start.state / "elsewhere.yaml"
    elsewhere.write_text(
        "# infgw-migrate backup: context=prod namespace=default pool=vllm\napiVersion: v1\nkind: List\nitems: []\n"
    )
    (state_file(start, "backup")).write_bytes(elsewhere.read_bytes())
    before = len(start.api.requests)
    done = start.migrate(*ZERO, *start.args)
    assert done.returncode == 2 and "written for another migration (# infgw-migrate backup: context=prod" in done.stderr
    assert writes(start.api, before) == []


def _set_release_status(api, release: str, status: str) -> None:
    """Rewrite the latest release record as Helm would have left it after stopping half-way."""
    records = [o for o in api.all("v1", "Secret") if o["metadata"].get("labels", {}).get("name") == release]
    latest = max(records, key=lambda o: int(o["metadata"]["labels"]["version"]))
    payload = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(latest["data"]["release"]))))
    payload["info"]["status"] = status
    encoded = base64.b64encode(gzip.compress(json.dumps(payload).encode()))
    latest["data"]["release"] = base64.b64encode(encoded).decode()
    latest["metadata"]["labels"]["status"] = status


def test_a_pending_helm_operation_is_refused_with_the_command_to_run(start):
    """9.7: a GA release left pending-install that this migration did not install (the user's: no state file of
    the run names it) is refused before any change, with the exact helm command. One the run installed itself is
    installed again (test_cluster_faults.test_a_half_installed_ga_release_of_the_run_is_installed_again)."""
    assert start.migrate("migrate", "--path", "zero-downtime", *start.args).returncode == 5  # stops before traffic
    (state_file(start, "run")).unlink()
    _set_release_status(start.api, GA_RELEASE, "pending-install")
    before = len(start.api.requests)
    done = start.migrate(*ZERO, *start.args)
    assert done.returncode == 3, done.stderr
    assert "is pending-install" in done.stderr and f"run `helm uninstall {GA_RELEASE} -n default`" in done.stderr
    assert writes(start.api, before) == []
    assert subprocess.run(["helm", "uninstall", GA_RELEASE], env=start.env, capture_output=True).returncode == 0
    again = start.migrate(*ZERO, *start.args)
    assert again.returncode == 0, again.stderr
    assert_zero_downtime_done(start)


def test_the_plan_is_exactly_what_migrate_runs(start):
    """9.8: each step's argv, as `plan -o json` gives it, is the argv `migrate` runs (its `+ ` lines)."""
    plan = start.migrate("plan", *ZERO[1:], "--delete-crds", *start.args, "-o", "json")
    assert plan.returncode == 0, plan.stderr
    planned = [step["argv"] for step in json.loads(plan.stdout)["steps"]]
    assert [step["key"] for step in json.loads(plan.stdout)["steps"]] == [
        "backup",
        "check-chart",
        "crds",
        "ga-release",
        "stage-0",
        "stage-50",
        "programmed",
        "stage-100",
        "verify",
        "remove-alpha",
    ]
    assert planned[6][:3] == ["kubectl", "wait", "--for=condition=Programmed"], (
        "the guide checks PROGRAMMED after 50/50"
    )
    assert "--delete-crds" in planned[-1]
    models = {m["spec"]["modelName"] for m in start.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceModel")}
    verify = planned[8]
    assert verify[verify.index("--model") + 1] in models, "9.11: verify asks for a model of the pool, not food-review"
    done = start.migrate(*ZERO, "--delete-crds", *start.args)
    assert done.returncode == 0, done.stderr
    ran = [shlex.split(line.split("... + ", 1)[1]) for line in done.stderr.splitlines() if line.startswith("... + ")]
    assert ran == planned
    crds = {c["metadata"]["name"] for c in start.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert not crds & {
        "inferencepools.inference.networking.x-k8s.io",
        "inferencemodels.inference.networking.x-k8s.io",
    }, "9.11: zero-downtime ends with the guide's CRD deletion when asked"


def test_the_ga_release_selects_the_alpha_pool_s_pods_with_gke_policies(start):
    """9.9 and 9.13: no --set for the selector: it is taken from the alpha pool, with its port; on GKE the GA
    release gets provider.name=gke, so its pool has a HealthCheckPolicy and a GCPBackendPolicy."""
    args = without_selector(start.args)
    mismatch = start.migrate(*ZERO, *args, "--set", "inferencePool.modelServers.matchLabels.app=other")
    assert mismatch.returncode == 2 and "differs from the alpha pool's selector" in mismatch.stderr
    assert helm_status(start, GA_RELEASE) != 0, "refused before anything was installed"
    done = start.migrate(*ZERO, *args)
    assert done.returncode == 0, done.stderr
    ga = start.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_RELEASE)
    alpha = yaml.safe_load_all((state_file(start, "backup")).read_text())
    alpha_pool = next(o for o in next(alpha)["items"] if o["kind"] == "InferencePool")
    assert ga["spec"]["selector"]["matchLabels"] == alpha_pool["spec"]["selector"]
    assert ga["spec"]["targetPorts"] == [{"number": alpha_pool["spec"]["targetPortNumber"]}]
    for kind in ("HealthCheckPolicy", "GCPBackendPolicy"):
        policy = start.api.get("networking.gke.io/v1", kind, GA_RELEASE)
        assert policy is not None and policy["spec"]["targetRef"]["name"] == GA_RELEASE, kind


def test_the_simple_path_checks_the_crd_files_before_the_outage(start, tmp_path):
    """9.10: a CRD file that fails its pin stops the simple path while the alpha stack still serves."""
    bundle = next((tmp_path / "mirror").rglob("manifests.yaml"))
    bundle.write_text(bundle.read_text().replace("description:", "description: tampered", 1))
    done = start.migrate("migrate", "--path", "simple", *start.args)
    assert done.returncode == 1, done.stderr
    assert "check that the GA CRD files download and match their pins" in done.stderr.splitlines()[-1]
    assert "does not match the pinned" in done.stderr
    assert helm_status(start, ALPHA_RELEASE) == 0 and start.api.get(
        f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE
    )


def test_the_simple_path_deletes_the_alpha_crds_nothing_else_uses(start):
    """9.11: guide step 1 of the simple path: the v0.3.0 CRDs go once no alpha object is left."""
    done = start.migrate("migrate", "--path", "simple", *start.args)
    assert done.returncode == 0, done.stderr
    crds = {c["metadata"]["name"] for c in start.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert "inferencemodels.inference.networking.x-k8s.io" not in crds
    assert route_backends(start.api) == [(GA_GROUP, ALPHA_RELEASE, 100)]


def test_state_files_are_secrets_in_a_private_folder(start, tmp_path):
    """9.12 and 9.13: --state-dir that does not exist is made 0700; the backup and export are 0600."""
    state = tmp_path / "new" / "state"
    args = (
        start.args[: start.args.index("--state-dir")]
        + ["--state-dir", str(state)]
        + start.args[start.args.index("--state-dir") + 2 :]
    )
    done = start.migrate("migrate", "--path", "zero-downtime", *args)
    assert done.returncode == 5 and "Traceback" not in done.stderr, done.stderr  # stopped before traffic
    assert state.stat().st_mode & 0o777 == 0o700
    files = sorted(state.iterdir())
    assert [f.name for f in files] == [state_file(start, what).name for what in ("backup", "models", "run")]
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    assert "sh.helm.release.v1" in files[0].read_text(), "the backup holds Helm's release Secrets"


def test_ctrl_c_says_which_step_was_running_and_the_same_command_resumes(start):
    """9.13: Ctrl-C while a stage waits for the Gateway: one line that names the step; the re-run finishes."""
    controller = start.api.controllers[0]
    controller.paused = True
    child = subprocess.Popen(
        [str(MIGRATE), *ZERO, *start.args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=start.env
    )
    seen = []
    for line in child.stderr:
        seen.append(line)
        if line.startswith("... waiting: "):
            child.send_signal(signal.SIGINT)
    assert child.wait(timeout=60) == 130, "".join(seen)
    assert seen[-1].startswith("Error: interrupted during step 5 (send 0% of llm-route"), seen[-1]
    assert "run the same command again to resume" in seen[-1]
    controller.paused = False
    start.api.reconcile()
    again = start.migrate(*ZERO, *start.args)
    assert again.returncode == 0, again.stderr
    assert_zero_downtime_done(start)


@pytest.mark.parametrize("path", ["zero-downtime", "simple"])
def test_a_user_without_one_permission_changes_nothing(start, path):
    """Issue 20.3: before its first change `migrate` asks the server (SelfSubjectAccessReview) for every permission
    of the ClusterRole `infgw-migrate rbac` prints; one denied (patch on HTTPRoutes, delete on alpha pools or CRDs)
    stops it with one line naming each, exit 3, nothing written. The real server's RBAC: tests/realapi."""
    start.api.denied |= {
        ("patch", "gateway.networking.k8s.io", "httproutes"),
        ("delete", "apiextensions.k8s.io", "customresourcedefinitions"),
    }
    before = len(start.api.requests)
    stages = ["--stages", "0,100"] if path == "zero-downtime" else []
    done = start.migrate("migrate", "--path", path, *stages, *start.args)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    # issue 31.3: before anything is read, grouped by resource, with the user the server says it is
    assert done.stderr.strip().splitlines() == [last], "refused before any note of what was read"
    assert last.startswith(f"Error: {start.api.username} may not "), last
    assert "patch httproutes.gateway.networking.k8s.io in default" in last, last
    assert "delete customresourcedefinitions.apiextensions.k8s.io cluster-wide" in last
    assert f"rbac --subject user:{start.api.username}`" in last and "nothing was read or changed" in last
    reads = [path for method, path in start.api.requests[before:] if method == "GET" and "/namespaces/" in path]
    assert reads == [], f"refused before any object was read: {reads}"
    assert writes(start.api, before) == []

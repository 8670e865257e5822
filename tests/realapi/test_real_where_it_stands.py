"""Issue 31 on a real kube-apiserver: state keyed by the cluster (two servers whose contexts are both `admin`, one
state folder), refusals before anything is read (the `limited` user with no grant, and with all but one), a GKE
cluster without GKE's CRDs, and the simple path's worst fault (a CRD write refused once the alpha stack is gone),
after which the same command must finish."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP, MIGRATE
from real_server import (
    SCRIPT,
    STARTING_CRDS,
    HoldingWebhook,
    _start,
    install_alpha_stack,
    stored_objects,
    use_helm,
)
from test_real_least_privilege import bind_role
from test_real_migrate import alpha, backends, real, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.realapi


def backup(cluster, folder) -> subprocess.CompletedProcess:
    """`infgw-migrate backup` run in `folder`, where its file goes by default."""
    return subprocess.run([str(MIGRATE), "backup", "--alpha-pool", ALPHA_RELEASE, "--route", "llm-route"],
                          capture_output=True, text=True, env=cluster.env, cwd=folder)  # fmt: skip


def uid_of(cluster, path: str) -> str:
    return cluster.get(path)["metadata"]["uid"]


def test_two_clusters_whose_contexts_are_both_admin_keep_their_own_state(real, tmp_path):
    """31.1: the second cluster's backup overwrote the first's, the only record of what cleanup deleted there. Now
    each file is named and headed by its cluster (the kube-system Namespace's uid, the server's URL); and a backup
    the version before wrote (keyed by `admin` alone) is read only by the cluster its route's uid vouches for."""
    # a second server of its own etcd (not the seed: a cluster of its own has a kube-system of its own)
    (tmp_path / "other").mkdir()
    other = _start(tmp_path / "other" / "apiserver", tmp_path / "other", None)
    try:
        other.apply_files(*STARTING_CRDS)
        state = tmp_path / "state"
        state.mkdir()
        for cluster in (real, other):
            assert json.loads(cluster.kubectl("config", "view", "-o", "json").stdout)["current-context"] == "admin"
            install_alpha_stack(cluster)
            done = backup(cluster, state)
            assert done.returncode == 0, done.stderr
        kube_system = "/api/v1/namespaces/kube-system"
        assert uid_of(real, kube_system) != uid_of(other, kube_system)
        files = sorted(state.glob("*.backup.yaml"))
        assert len(files) == 2, files
        for cluster in (real, other):
            uid = uid_of(cluster, kube_system)
            (path,) = [f for f in files if uid in f.name]
            header, body = path.read_text().split("\n", 1)
            assert (
                header
                == f"# infgw-migrate backup: cluster={uid} server={cluster.url} namespace=default pool={ALPHA_RELEASE}"
            )
            pool = next(o for o in yaml.safe_load(body)["items"] if o["kind"] == "InferencePool")
            live = f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/{ALPHA_RELEASE}"
            assert pool["metadata"]["uid"] == uid_of(cluster, live), "each file holds its own cluster's pool"

        # the version before wrote `admin.default.POOL.backup.yaml`: as this first cluster's backup, plus an object
        # that only that file holds
        mine = next(f for f in files if uid_of(real, kube_system) in f.name)
        saved = yaml.safe_load(mine.read_text().split("\n", 1)[1])
        saved["items"].append({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "only-in-the-old-file", "namespace": "default"}})  # fmt: skip
        legacy = state / f"admin.default.{ALPHA_RELEASE}.backup.yaml"
        legacy.write_text(f"# infgw-migrate backup: context=admin namespace=default pool={ALPHA_RELEASE}\n"
                          + yaml.safe_dump(saved))  # fmt: skip
        before = legacy.read_bytes()
        for path in files:
            path.unlink()
        for cluster in (real, other):
            assert backup(cluster, state).returncode == 0
        kept = {uid: yaml.safe_load(next(state.glob(f"*{uid}*.backup.yaml")).read_text().split("\n", 1)[1])["items"]
                for uid in (uid_of(real, kube_system), uid_of(other, kube_system))}  # fmt: skip
        held = {uid: {o["metadata"]["name"] for o in items} for uid, items in kept.items()}
        assert "only-in-the-old-file" in held[uid_of(real, kube_system)], "the route's uid vouched for it"
        assert "only-in-the-old-file" not in held[uid_of(other, kube_system)], "another cluster's route: not this one's"
        assert legacy.read_bytes() == before, "a file of the version before is read, never written"
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "down", str(other.folder)], capture_output=True)


def test_a_user_with_no_grant_is_refused_before_anything_is_read(alpha):
    """31.3: `limited` got exit 1 and "Forbidden" at the first read. Now: exit 3, one line, the verbs by resource,
    the name the server knows the user by (SelfSubjectReview) and the command that prints the Role to bind."""
    with alpha.controller.held():  # its status writes would change what is compared
        before = stored_objects(alpha)
        done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", "--kube-context", "limited",
                             *alpha.args)  # fmt: skip
        after = stored_objects(alpha)
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: limited may not get, list, watch, create, update, patch, delete "
                           "customresourcedefinitions.apiextensions.k8s.io cluster-wide; "), line  # fmt: skip
    assert "get namespaces cluster-wide" in line and "Forbidden" not in line
    assert line.endswith("apply what `infgw-migrate rbac --subject user:limited` prints (| kubectl apply -f -), then "
                         "run the same command again"), line  # fmt: skip
    assert "nothing was read or changed" in line
    assert after == before and not any((alpha.folder.parent / "state").iterdir())
    # plan changes nothing: it is refused for what it cannot read, and names only that
    planned = alpha.migrate("plan", "--path", "zero-downtime", "--kube-context", "limited", *alpha.args)
    assert planned.returncode == 3, planned.stderr
    (line,) = planned.stderr.strip().splitlines()
    assert line.startswith("Error: limited may not get, list, watch customresourcedefinitions.apiextensions.k8s.io "
                           "cluster-wide; "), line  # fmt: skip
    assert "create" not in line and "delete" not in line


def test_a_user_without_patch_on_routes_learns_it_first(alpha):
    """31.3: a user who lacked only `patch` on HTTPRoutes learnt it after the Gateway check and the install."""
    bind_role(alpha, without=("gateway.networking.k8s.io", "httproutes", "patch"))
    with alpha.controller.held():
        before = stored_objects(alpha)
        done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", "--kube-context", "limited",
                             *alpha.args)  # fmt: skip
        after = stored_objects(alpha)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: limited may not patch httproutes.gateway.networking.k8s.io in default: nothing was read or changed; "
        "as a cluster admin, apply what `infgw-migrate rbac --subject user:limited` prints (| kubectl apply -f -), "
        "then run the same command again"
    ]
    assert after == before


def test_a_gke_cluster_without_gke_s_crds_is_told_the_choice_then_migrates_with_it(alpha):
    """31.3: the server says GKE (v1.34.4-gke.1626000) but lacks HealthCheckPolicy, GCPBackendPolicy and
    ClusterPodMonitoring: provider.name=gke would fail at the GA release, after the CRD step. Named before any
    change; with `--set provider.name=none` the migration goes through."""
    use_helm(alpha, 4)
    for name in ("healthcheckpolicies.networking.gke.io", "gcpbackendpolicies.networking.gke.io",
                 "clusterpodmonitorings.monitoring.googleapis.com"):  # fmt: skip
        alpha.kubectl("delete", "crd", name)
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,100", *alpha.args]
    with alpha.controller.held():
        before = stored_objects(alpha)
        done = alpha.migrate(*args)
        after = stored_objects(alpha)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: before any step (reading the cluster): provider.name=gke (the cluster is GKE): chart v1.0.0 then "
        "renders objects of healthcheckpolicies.networking.gke.io, gcpbackendpolicies.networking.gke.io, "
        "clusterpodmonitorings.monitoring.googleapis.com, which this cluster does not serve; pass --set "
        "provider.name=none, or install those CRDs; nothing was changed"
    )
    assert after == before
    done = alpha.migrate(*args, "--set", "provider.name=none")
    assert done.returncode == 0, done.stderr
    assert backends(alpha) == [(GA_GROUP, f"{ALPHA_RELEASE}-ga", 100)]


@pytest.mark.parametrize("major", [3, 4])
def test_the_simple_path_finishes_after_a_crd_write_fails_mid_outage(alpha, major):
    """31.4, the worst case: once the alpha stack and its CRDs are gone (the outage has begun), the bundle's CRD
    write fails. The same command refused ("Unable to list inferencemodels": the real kubectl's discovery cache
    still listed the deleted kind) and the route stayed on the alpha pool whose EPP was gone. It must finish, and
    leave what a fault-free run leaves (the bundle's v1alpha2 InferencePool CRD with it)."""
    use_helm(alpha, major)
    args = ["migrate", "--path", "simple", *alpha.args]
    webhook = HoldingWebhook(alpha, "CREATE", "apiextensions.k8s.io", "customresourcedefinitions", scope="Cluster",
                             deny=True).start()  # fmt: skip
    try:
        done = alpha.migrate(*args)
    finally:
        webhook.stop()
    assert done.returncode == 1, done.stderr
    assert "install the GA CRDs" in done.stderr.strip().splitlines()[-1], done.stderr
    assert alpha.helm("status", ALPHA_RELEASE, check=False).returncode != 0, "the outage had begun"
    again = alpha.migrate(*args)
    assert again.returncode == 0, again.stderr
    assert backends(alpha) == [(GA_GROUP, ALPHA_RELEASE, 100)]
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert alpha.get(f"{crds}/inferencepools.{ALPHA_GROUP}") is not None, "v1.0.0's bundle brings it back"
    assert alpha.get(f"{crds}/inferencemodels.{ALPHA_GROUP}") is None
    objectives = alpha.items(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferenceobjectives")
    assert {o["metadata"]["name"] for o in objectives} == {"food-review", "base-model", "base-model-cpu"}
    seen = json.loads(alpha.migrate("status", "--alpha-pool", ALPHA_RELEASE, "-o", "json").stdout)
    assert seen["stage"] == "finished"

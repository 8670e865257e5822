"""Least privilege on a real server (issue 21.4, issue 20.3): the ClusterRole `infgw-migrate rbac` prints, bound to
the `limited` user (a token user with no other grant), is enough for both paths; with one verb taken away,
`migrate` stops before its first change with one line naming it, and the cluster is as it was."""

from __future__ import annotations

import json

import pytest
from conftest import ALPHA_RELEASE, GA_GROUP
from real_server import stored_objects, use_helm
from test_real_migrate import alpha, backends, real, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.realapi


def bind_role(cluster, without: tuple[str, str, str] | None = None) -> None:
    """Apply what `infgw-migrate rbac --subject user:limited` prints, as the admin; `without` takes one verb of one
    resource (group, resource, verb) out of it."""
    listed = json.loads(cluster.migrate("rbac", "--subject", "user:limited", "-o", "json").stdout)
    if without:
        group, resource, verb = without
        role = listed["items"][0]
        kept = []
        for rule in role["rules"]:
            if group in rule.get("apiGroups", []) and resource in rule.get("resources", []):
                kept.append({**rule, "resources": [r for r in rule["resources"] if r != resource]})
                kept.append({**rule, "resources": [resource], "verbs": [v for v in rule["verbs"] if v != verb]})
            else:
                kept.append(rule)
        role["rules"] = [rule for rule in kept if rule.get("resources", True) and rule["verbs"]]
    cluster.kubectl("apply", "-f", "-", input=json.dumps(listed))


@pytest.mark.parametrize("path", ["zero-downtime", "simple"])
def test_the_printed_role_is_enough_for_both_paths(alpha, path):
    use_helm(alpha, 4)
    assert alpha.kubectl("--context=limited", "get", "httproutes", check=False).returncode != 0, (
        "limited starts with nothing"
    )
    bind_role(alpha)
    stages = ["--stages", "0,100"] if path == "zero-downtime" else []
    done = alpha.migrate("migrate", "--path", path, *stages, "--kube-context", "limited", *alpha.args)
    assert done.returncode == 0, done.stderr
    ga = f"{ALPHA_RELEASE}-ga" if path == "zero-downtime" else ALPHA_RELEASE
    assert backends(alpha) == [(GA_GROUP, ga, 100)]


def test_one_verb_missing_changes_nothing(alpha):
    bind_role(alpha, without=("inference.networking.x-k8s.io", "inferencepools", "delete"))
    with alpha.controller.held():  # the test controller's status writes are not the tool's
        before = stored_objects(alpha)
        done = alpha.migrate(
            "migrate", "--path", "zero-downtime", "--stages", "0,100", "--kube-context", "limited", *alpha.args
        )
        after = stored_objects(alpha)
    assert done.returncode == 3, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: limited may not delete inferencepools.inference.networking.x-k8s.io in default:"), (
        last
    )
    assert "rbac --subject" in last
    assert after == before, "nothing may change"


def test_a_user_who_may_only_get_the_pool_and_its_epp_has_them_checked(real, tmp_path):
    """The post-renderer's check of the alpha pool reads the objects a judgement needs together (issue 22: one
    kubectl call), which lists kinds and GatewayClasses. A user whose Role in the namespace only lets them get the
    pool and its EPP (a namespace's admin, say, rendering in CI) is still checked: each object read on its own, as
    before; the pool's EPP gone, the render is refused."""
    import subprocess

    from conftest import CHARTS, POSTRENDER
    from real_server import install_alpha_stack

    install_alpha_stack(real)
    rules = [{"apiGroups": ["inference.networking.x-k8s.io"], "resources": ["inferencepools"], "verbs": ["get"]},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}]  # fmt: skip
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "render", "namespace": "default"}, "rules": rules}  # fmt: skip
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "render", "namespace": "default"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "render"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "limited"}]}  # fmt: skip
    real.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}))
    assert real.kubectl("--context=limited", "get", "deployments", check=False).returncode != 0, "it may not list"
    rendered = real.helm(
        "template", "vllm-ga", str(CHARTS / "inferencepool-v1.0.0"),
        "--set", f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}",
    ).stdout  # fmt: skip
    report = tmp_path / "report.json"
    args = [str(POSTRENDER), "-q", f"--report={report}", f"--alpha-pool={ALPHA_RELEASE}", "--ga-weight=50",
            "--kube-context=limited"]  # fmt: skip
    done = subprocess.run(args, input=rendered, capture_output=True, text=True, env=real.env)
    assert done.returncode == 0, done.stderr
    notes = json.loads(report.read_text())["notes"]
    assert f"HTTPRoute llm-route: the alpha pool {ALPHA_RELEASE} and its EPP exist (context limited)" in notes, notes
    real.kubectl("delete", "deployment", f"{ALPHA_RELEASE}-epp")
    done = subprocess.run(args, input=rendered, capture_output=True, text=True, env=real.env)
    assert done.returncode == 3 and done.stdout == "", done.stderr
    assert f"EPP Deployment {ALPHA_RELEASE}-epp does not exist" in done.stderr

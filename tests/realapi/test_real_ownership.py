"""Who owns what on a real server (issue 21.4): Helm 4 applies server-side, the tool patches the route; a later
`helm upgrade` of the GA release conflicts with nothing the tool wrote, another field manager's edit to the route
survives the next shift, and an object a finalizer holds is never reported as deleted."""

from __future__ import annotations

import json

import pytest
from conftest import ALPHA_GROUP, ALPHA_RELEASE, CHARTS, GA_GROUP
from real_server import use_helm
from test_real_migrate import ROUTE, alpha, backends, real, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.realapi
GA_RELEASE = f"{ALPHA_RELEASE}-ga"
POOL = f"/apis/{GA_GROUP}/v1/namespaces/default/inferencepools/{GA_RELEASE}"


def managers(obj: dict) -> dict[str, str]:
    return {entry["manager"]: entry["operation"] for entry in obj["metadata"].get("managedFields", [])}


def test_helm_4_owns_the_ga_release_and_a_later_upgrade_conflicts_with_nothing(alpha):
    use_helm(alpha, 4)
    done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", *alpha.args)
    assert done.returncode == 0, done.stderr
    pool, route = alpha.get(POOL), alpha.get(ROUTE)
    assert managers(pool).get("helm") == "Apply", managers(pool)  # Helm 4: server-side apply as "helm"
    assert "kubectl-patch" in managers(route), managers(route)  # shift: a JSON patch of the backendRefs only
    assert "helm" not in managers(route), "the route is not the GA release's"
    values = json.loads(alpha.helm("get", "values", GA_RELEASE, "-o", "json").stdout)
    sets = [
        arg
        for key, value in (
            ("inferencePool.modelServers.matchLabels.app", ALPHA_RELEASE),
            ("provider.name", values.get("provider", {}).get("name", "none")),
        )
        for arg in ("--set", f"{key}={value}")
    ]
    again = alpha.migrate(
        "upgrade",
        GA_RELEASE,
        str(CHARTS / "inferencepool-v1.0.0"),
        *sets,
        "--objectives-from",
        str(next((alpha.folder.parent / "state").glob("*.models.yaml"))),
    )
    assert again.returncode == 0, again.stderr
    assert "conflict" not in again.stderr.lower()
    assert backends(alpha) == [(GA_GROUP, GA_RELEASE, 100)], "the upgrade left the route alone"


def test_another_managers_edit_to_the_route_survives_the_next_shift(alpha):
    done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0", *alpha.args)
    assert done.returncode == 5, done.stderr  # stopped on purpose at stage 0
    # another team labels the route and adds a rule of its own (a JSON patch: a server-side apply of a partial
    # object would take over, and drop, the fields kubectl's client-side apply managed)
    alpha.kubectl("create", "service", "clusterip", "static", "--tcp=8080")
    alpha.kubectl(
        "label",
        "httproutes.v1.gateway.networking.k8s.io",
        "llm-route",
        "team=platform",
        "--field-manager=platform-team",
    )
    rule = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
        "backendRefs": [{"name": "static", "port": 8080}],
    }
    alpha.kubectl(
        "patch",
        "httproutes.v1.gateway.networking.k8s.io",
        "llm-route",
        "--type=json",
        "--field-manager=platform-team",
        "-p",
        json.dumps([{"op": "add", "path": "/spec/rules/-", "value": rule}]),
    )
    shifted = alpha.migrate(
        "shift",
        "--route",
        "llm-route",
        "--alpha-pool",
        ALPHA_RELEASE,
        "--ga-pool",
        GA_RELEASE,
        "--ga-weight",
        "50",
        "--wait",
        "--timeout",
        "30s",
    )
    assert shifted.returncode == 0, (shifted.stderr, alpha.controller.error)
    route = alpha.get(ROUTE)
    assert route["metadata"]["labels"]["team"] == "platform"
    assert route["spec"]["rules"][-1]["backendRefs"] == [
        dict(rule["backendRefs"][0], group="", kind="Service", weight=1)
    ]
    assert "platform-team" in managers(route)
    assert backends(alpha) == [(ALPHA_GROUP, ALPHA_RELEASE, 50), (GA_GROUP, GA_RELEASE, 50)]


def test_a_finalizer_on_the_alpha_pool_is_waited_for_never_reported_deleted(alpha):
    """The real server keeps an object with a finalizer (deletionTimestamp set) until it is removed: cleanup says
    so and fails; once the finalizer goes, the same command finishes."""
    done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", *alpha.args, env_extra={})
    assert done.returncode == 0, done.stderr
    # a fresh alpha pool with a finalizer, as another controller would hold it
    pool = {
        "apiVersion": f"{ALPHA_GROUP}/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": "held", "namespace": "default", "finalizers": ["example.com/hold"]},
        "spec": {"selector": {"app": "held"}, "targetPortNumber": 8000, "extensionRef": {"name": "held-epp"}},
    }
    alpha.kubectl("apply", "-f", "-", input=json.dumps(pool))
    args = [
        "cleanup",
        "--alpha-pool",
        "held",
        "--with-downtime",
        "--backup",
        str(alpha.folder.parent / "held.yaml"),
        "--timeout",
        "3s",
    ]
    held = alpha.migrate(*args)
    assert held.returncode == 1, held.stderr
    assert "deleted InferencePool default/held" not in held.stderr
    assert "still there after 3s: InferencePool default/held (finalizers: example.com/hold)" in held.stderr
    stored = alpha.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/held")
    assert stored["metadata"]["deletionTimestamp"], "the server marked it, and keeps it"
    alpha.kubectl(
        "patch",
        "inferencepools.v1alpha2.inference.networking.x-k8s.io",
        "held",
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
    again = alpha.migrate(*args)
    assert again.returncode == 0, again.stderr
    assert alpha.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/held") is None


def test_a_route_changed_between_read_and_write_is_read_again(alpha, tmp_path):
    """The shift's patch carries a test of the resourceVersion it read; another writer changes the route's rules
    just before it (a kubectl shim gives the first rule a timeout before the first patch reaches the real server:
    a change the shift's replace of spec.rules would lose). The server refuses the stale patch (422, test
    failed); the shift reads the route again and writes on it, keeping the other writer's change."""
    from conftest import tool

    done = alpha.migrate("migrate", "--path", "zero-downtime", "--stages", "0", *alpha.args)
    assert done.returncode == 5, done.stderr  # stopped on purpose at stage 0
    shim, marker = tmp_path / "shim" / "kubectl", tmp_path / "raced"
    shim.parent.mkdir()
    shim.write_text(f"""#!/bin/sh
case "$*" in *" patch "*"--type=json"*|patch*"--type=json"*)
  [ -e {marker} ] || {{ touch {marker}; {tool("kubectl")} "$1" patch httproutes.v1.gateway.networking.k8s.io llm-route --type=json -p '[{{"op":"add","path":"/spec/rules/0/timeouts","value":{{"request":"301s"}}}}]' >/dev/null; }};;
esac
exec {tool("kubectl")} "$@"
""")
    shim.chmod(0o755)
    shifted = alpha.migrate(
        "shift",
        "--route",
        "llm-route",
        "--alpha-pool",
        ALPHA_RELEASE,
        "--ga-pool",
        GA_RELEASE,
        "--ga-weight",
        "50",
        "--force",
        env_extra={"KUBECTL": str(shim)},
    )
    assert marker.exists(), "the race was not staged"
    assert shifted.returncode == 0, shifted.stderr
    assert "changed since it was read: reading it again" in shifted.stderr
    assert alpha.get(ROUTE)["spec"]["rules"][0]["timeouts"] == {"request": "301s"}, "the other writer's edit was lost"
    assert backends(alpha) == [(ALPHA_GROUP, ALPHA_RELEASE, 50), (GA_GROUP, GA_RELEASE, 50)]

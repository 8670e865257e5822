"""Both guide paths with `migrate` on a real kube-apiserver (scripts/apiserver): structural schemas, CEL rules,
strict field validation, the status subresource, Helm 4's server-side apply. Each test asserts what the server
holds afterwards."""

from __future__ import annotations

import pytest
from completions import server  # noqa: F401  (the completion server fixture)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP
from real_server import alpha, real, stored_objects, use_helm  # noqa: F401

pytestmark = pytest.mark.realapi
GA_RELEASE = f"{ALPHA_RELEASE}-ga"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/llm-route"


def backends(real) -> list[tuple]:
    route = real.get(ROUTE)
    return [(b.get("group"), b["name"], b.get("weight")) for b in route["spec"]["rules"][0]["backendRefs"]]


@pytest.mark.parametrize("major", [3, 4])
def test_zero_downtime_end_to_end_and_again(alpha, major):
    use_helm(alpha, major)
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,50,100", *alpha.args]
    done = alpha.migrate(*args)
    assert done.returncode == 0, done.stderr
    assert backends(alpha) == [(GA_GROUP, GA_RELEASE, 100)]
    pool = alpha.get(f"/apis/{GA_GROUP}/v1/namespaces/default/inferencepools/{GA_RELEASE}")
    assert pool["spec"]["selector"] == {"matchLabels": {"app": ALPHA_RELEASE}}
    assert pool["status"]["parents"], "the Gateway accepted the GA pool"
    objectives = alpha.items(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferenceobjectives")
    assert {o["metadata"]["name"] for o in objectives} == {"food-review", "base-model", "base-model-cpu"}
    assert alpha.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/{ALPHA_RELEASE}") is None
    assert alpha.helm("status", ALPHA_RELEASE, check=False).returncode != 0
    before = stored_objects(alpha)
    again = alpha.migrate(*args)
    assert again.returncode == 0, again.stderr
    assert stored_objects(alpha) == before, "a finished migration, run again, changed the cluster"
    assert_finished(alpha, args)


def assert_finished(alpha, args: list[str]) -> None:
    """Issue 31.2: status and plan say what migrate judged: finished, nothing to do (exit 0 both)."""
    import json

    seen = alpha.migrate("status", *alpha.args[:2], "--state-dir", alpha.args[alpha.args.index("--state-dir") + 1],
                         "-o", "json")  # fmt: skip
    assert seen.returncode == 0, seen.stderr
    assert (json.loads(seen.stdout)["stage"], json.loads(seen.stdout)["next"]) == (
        "finished", ["nothing: the migration is finished"])  # fmt: skip
    planned = alpha.migrate("plan", *args[1:])
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.strip().splitlines()[-1].startswith("nothing to do: every step that changes the cluster")


@pytest.mark.parametrize("major", [3, 4])
def test_simple_path_end_to_end_and_again(alpha, major):
    use_helm(alpha, major)
    args = ["migrate", "--path", "simple", *alpha.args]
    done = alpha.migrate(*args)
    assert done.returncode == 0, done.stderr
    assert backends(alpha) == [(GA_GROUP, ALPHA_RELEASE, 100)]
    pool = alpha.get(f"/apis/{GA_GROUP}/v1/namespaces/default/inferencepools/{ALPHA_RELEASE}")
    assert pool["spec"]["targetPorts"] == [{"number": 8000}]
    assert (
        alpha.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/inferencemodels.inference.networking.x-k8s.io"
        )
        is None
    )
    before = stored_objects(alpha)
    again = alpha.migrate(*args)
    assert again.returncode == 0, again.stderr
    assert stored_objects(alpha) == before, "a finished migration, run again, changed the cluster"
    assert_finished(alpha, args)

"""Issue 22.2: `migrate` runs its own steps in its own process, and `plan` promises that each is exactly the command
it prints. On the real server: the printed commands, pasted into a shell one by one, take the cluster where
`migrate` takes it, so that `migrate` afterwards finds every step done and writes nothing."""

from __future__ import annotations

import json
import subprocess

import pytest
from completions import server  # noqa: F401  (the completion server fixture)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP
from real_server import alpha, real, stored_objects, use_helm  # noqa: F401

pytestmark = pytest.mark.realapi
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/llm-route"


@pytest.mark.parametrize("path, major", [("zero-downtime", 3), ("simple", 4)])
def test_the_printed_commands_in_a_shell_do_what_migrate_does(alpha, path, major):  # noqa: F811
    real = alpha
    use_helm(real, major)
    args = ["--path", path, *(["--stages", "0,50,100"] if path == "zero-downtime" else []), *real.args]
    planned = real.migrate("plan", *args, "-o", "json")
    assert planned.returncode == 0, planned.stderr
    for step in json.loads(planned.stdout)["steps"]:
        done = subprocess.run(["bash", "-c", step["command"]], capture_output=True, text=True, env=real.env)
        assert done.returncode == 0, f"step {step['step']} ({step['key']}): {step['command']}\n{done.stderr}"

    ga_pool = ALPHA_RELEASE if path == "simple" else f"{ALPHA_RELEASE}-ga"
    route = real.get(ROUTE)["spec"]["rules"][0]["backendRefs"]
    assert [(ref["group"], ref["name"], ref["weight"]) for ref in route] == [(GA_GROUP, ga_pool, 100)]
    assert real.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/{ALPHA_RELEASE}") is None
    before = stored_objects(real)
    again = real.migrate("migrate", *args)
    assert again.returncode == 0, again.stderr
    # verify runs every time (it asks the Gateway, and writes nothing); every other step is done already
    ran = [line.split()[3] for line in again.stderr.splitlines() if line.startswith("... + ")]
    assert ran == ["verify"], again.stderr
    assert stored_objects(real) == before, "migrate changed what the printed commands had left"

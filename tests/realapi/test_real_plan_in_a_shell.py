"""Issue 22.2: `migrate` runs its own steps in its own process, and `plan` promises that each is exactly the command
it prints. On the real server: the printed commands, pasted into a shell one by one, take the cluster where
`migrate` takes it, so that `migrate` afterwards finds every step done and writes nothing."""

from __future__ import annotations

import json
import subprocess

import pytest
from completions import Completions, server  # noqa: F401  (the completion server fixture)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, CHARTS, GA_GROUP, crd_mirror
from real_server import GatewayController, install_alpha_stack, real, stored_objects, use_helm  # noqa: F401

pytestmark = pytest.mark.realapi
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/llm-route"


@pytest.mark.parametrize("path, major", [("zero-downtime", 3), ("simple", 4)])
def test_the_printed_commands_in_a_shell_do_what_migrate_does(real, server, tmp_path, path, major):  # noqa: F811
    Completions.behaviour = "ok"
    install_alpha_stack(real)
    GatewayController(real).start()
    use_helm(real, major)
    (tmp_path / "state").mkdir()
    args = [
        "--path", path, *(["--stages", "0,50,100"] if path == "zero-downtime" else []),
        "--alpha-pool", ALPHA_RELEASE, "--chart", str(CHARTS / "inferencepool-v1.0.0"),
        "--crd-source", str(crd_mirror(tmp_path / "mirror")), "--state-dir", str(tmp_path / "state"),
        "--verify-url", f"http://127.0.0.1:{server.server_address[1]}/v1/completions",
    ]  # fmt: skip
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

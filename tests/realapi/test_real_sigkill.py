"""Issue 20.7 on the real server: SIGKILL of migrate's whole process group in the middle of a write (a webhook
holds that write, so the kill lands there every time), then the same command. It finishes, and the cluster ends
as a migration without the kill leaves it."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest
from completions import server  # noqa: F401  (the completion server fixture)
from conftest import ALPHA_GROUP, ALPHA_RELEASE, GA_GROUP, MIGRATE
from real_server import HoldingWebhook, alpha, real, use_helm  # noqa: F401

pytestmark = pytest.mark.realapi
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/llm-route"
GA_POOLS = (GA_GROUP, "inferencepools")


@pytest.mark.parametrize(
    "path, major, held, release_status",
    [
        # the outage of the simple path has begun: the alpha stack is gone, the GA release half-installed
        ("simple", 4, ("CREATE", *GA_POOLS), "pending-install"),
        # `helm uninstall` of the alpha release, killed: Helm's record says uninstalling
        ("simple", 3, ("DELETE", ALPHA_GROUP, "inferencepools"), "uninstalling"),
        ("zero-downtime", 3, ("CREATE", *GA_POOLS), "pending-install"),
        ("zero-downtime", 4, ("UPDATE", "gateway.networking.k8s.io", "httproutes"), "deployed"),
    ],
    ids=[
        "simple-ga-install-helm4",
        "simple-alpha-delete-helm3",
        "zero-downtime-ga-install-helm3",
        "zero-downtime-route-patch-helm4",
    ],
)
def test_a_sigkill_mid_write_then_the_same_command_finishes(
    alpha,  # noqa: F811
    tmp_path,
    path,
    major,
    held,  # noqa: F811
    release_status,
):
    real = alpha
    use_helm(real, major)
    ga_pool = ALPHA_RELEASE if path == "simple" else f"{ALPHA_RELEASE}-ga"
    args = ["migrate", "--path", path, *(["--stages", "0,50,100"] if path != "simple" else []), *real.args]
    webhook = HoldingWebhook(real, *held).start()
    try:
        with open(tmp_path / "killed.log", "w") as log:
            child = subprocess.Popen(
                [str(MIGRATE), *args], stdout=log, stderr=subprocess.STDOUT, env=real.env, start_new_session=True
            )
            arrived = webhook.arrived.wait(240)
            os.killpg(child.pid, signal.SIGKILL)  # the tool, its step and the step's helm or kubectl
            child.wait()
        assert arrived, f"the held write never came:\n{(tmp_path / 'killed.log').read_text()}"
    finally:
        webhook.stop()
    status = real.helm("status", ga_pool, "-o", "json", check=False)
    assert (json.loads(status.stdout)["info"]["status"] if status.returncode == 0 else None) == release_status

    again = real.migrate(*args)
    assert again.returncode == 0, (
        f"{(tmp_path / 'killed.log').read_text()}\n--- the same command again:\n{again.stderr}"
    )
    if release_status == "pending-install":
        assert (
            f"Helm release {ga_pool} is pending-install: this migration began installing it"
            in again.stdout + again.stderr
        )
    # as a migration without the kill ends (test_real_migrate): every request on the GA pool, the alpha one gone
    assert [
        (b.get("group"), b["name"], b.get("weight")) for b in real.get(ROUTE)["spec"]["rules"][0]["backendRefs"]
    ] == [(GA_GROUP, ga_pool, 100)]
    assert json.loads(real.helm("status", ga_pool, "-o", "json").stdout)["info"]["status"] == "deployed"
    assert real.get(f"/apis/{GA_GROUP}/v1/namespaces/default/inferencepools/{ga_pool}")["spec"]["selector"] == {
        "matchLabels": {"app": ALPHA_RELEASE}
    }
    assert real.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferencepools/{ALPHA_RELEASE}") is None
    objectives = real.items(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferenceobjectives")
    assert {o["metadata"]["name"] for o in objectives} == {"food-review", "base-model", "base-model-cpu"}

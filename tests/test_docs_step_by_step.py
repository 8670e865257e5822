"""The step-by-step zero-downtime commands of docs/commands.md, pasted verbatim into `sh` (from the `helm pull` line down),
with only the plugin installed, as a user installs it, into the real Helm 3, against the loopback cluster."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading

import pytest
from completions import Completions
from conftest import (
    ALPHA_GROUP,
    ALPHA_RELEASE,
    CHARTS,
    FIXTURES,
    GA_GROUP,
    REPO,
    GatewayController,
    install_alpha_stack,
)

# The Gateway's address: a loopback address of its own, so that the completion server can listen on port 80
GATEWAY_ADDRESS = "127.0.0.7"


def readme_commands() -> list[str]:
    block = (
        (REPO / "docs" / "commands.md")
        .read_text()
        .split("<!-- step-by-step -->\n", 1)[1]
        .split("<!-- /step-by-step -->", 1)[0]
    )
    body = block.split("```sh\n", 1)[1].rsplit("```", 1)[0]
    return [line for line in body.replace("\\\n", " ").splitlines() if line.strip()]


@pytest.fixture
def gateway_port_80():
    try:
        httpd = http.server.ThreadingHTTPServer((GATEWAY_ADDRESS, 80), Completions)
    except OSError as exc:
        pytest.skip(f"cannot listen on {GATEWAY_ADDRESS}:80 ({exc.strerror})")
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_the_step_by_step_commands_work_as_pasted(cluster, tmp_path, repo_copy, gateway_port_80):  # noqa: F811
    Completions.behaviour = "ok"
    install_alpha_stack(cluster)
    cluster.api.controllers.append(GatewayController())
    gateway = cluster.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    gateway["status"] = {
        "addresses": [{"value": GATEWAY_ADDRESS}],
        "conditions": [
            {
                "type": "Programmed",
                "status": "True",
                "reason": "Programmed",
                "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
    }
    mirror = tmp_path / "mirror"
    (mirror / "releases/download/v1.0.0").mkdir(parents=True)
    shutil.copy(
        FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml",
        mirror / "releases/download/v1.0.0/manifests.yaml",
    )
    installed = subprocess.run(
        ["helm", "plugin", "install", str(repo_copy)], capture_output=True, text=True, env=cluster.env
    )
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "work"
    work.mkdir()
    commands = readme_commands()
    assert commands[0].startswith("helm pull ") and commands[0].endswith("--untar")
    shutil.copytree(CHARTS / "inferencepool-v1.0.0", work / "inferencepool")  # what `helm pull --untar` leaves

    env = dict(cluster.env, INFGW_CRD_SOURCE=str(mirror))
    for command in commands[1:]:
        done = subprocess.run(["sh", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stderr}"

    route = cluster.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (GA_GROUP, f"{ALPHA_RELEASE}-ga", 100)
    ]
    assert cluster.api.get(f"{GA_GROUP}/v1", "InferencePool", f"{ALPHA_RELEASE}-ga") is not None
    assert {o["metadata"]["name"] for o in cluster.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceObjective")} == {
        "food-review",
        "base-model",
        "base-model-cpu",
    }
    crds = {c["metadata"]["name"] for c in cluster.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert not crds & {f"inferencepools.{ALPHA_GROUP}", f"inferencemodels.{ALPHA_GROUP}"}
    assert (work / "backup.yaml").stat().st_mode & 0o777 == 0o600
    assert any(body.get("model") == "food-review" for _, body in Completions.seen)

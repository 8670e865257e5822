"""`detect` and `plan` against a Kubernetes API on loopback (real kubectl and helm), and from a snapshot."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ALPHA_GROUP, ALPHA_RELEASE, CHARTS, install_alpha_stack, tool


@pytest.fixture
def cluster(memory):
    """The fast tier's in-memory cluster (kubectl and Helm reads in this process)."""
    return memory


def count_kubectl_calls(cluster, tmp_path):
    """Put a kubectl on PATH that logs each call, then runs the real one."""
    log = tmp_path / "kubectl.log"
    shim = tmp_path / "bin" / "kubectl"
    shim.unlink()
    shim.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {tool("kubectl")} "$@"\n')
    shim.chmod(0o755)
    return log


def test_detect_finds_the_alpha_stack_with_few_kubectl_calls(emulator, tmp_path):
    install_alpha_stack(emulator)
    log = count_kubectl_calls(emulator, tmp_path)
    done = emulator.migrate("detect", "-o", "json", "--exit-code")
    assert done.returncode == 4, done.stderr  # migration needed
    found = json.loads(done.stdout)
    assert found["alpha_pools"] == [
        {
            "namespace": "default",
            "name": ALPHA_RELEASE,
            "epp": f"{ALPHA_RELEASE}-epp",
            "selector": {"app": ALPHA_RELEASE},
            "target_port": 8000,
        }
    ]
    assert sorted(m["name"] for m in found["alpha_models"]) == ["base-model", "base-model-cpu", "food-review"]
    assert found["routes"] == [
        {
            "namespace": "default",
            "name": "llm-route",
            "backends": [{"group": ALPHA_GROUP, "name": ALPHA_RELEASE, "weight": 1}],
        }
    ]
    chart = yaml.safe_load((CHARTS / "inferencepool-v0.3.0" / "Chart.yaml").read_text())
    assert found["releases"] == [
        {
            "namespace": "default",
            "name": ALPHA_RELEASE,
            "chart": chart["name"],
            "chart_version": chart["version"],
            "status": "deployed",
        }
    ]
    assert found["server_version"] == "v1.33.5-gke.1080000"
    assert {c["name"] for c in found["crds"]} >= {
        "inferencepools.inference.networking.x-k8s.io",
        "inferencemodels.inference.networking.x-k8s.io",
    }
    assert found["recommended_path"] == "zero-downtime"  # a route sends live traffic to the alpha pool
    calls = log.read_text().splitlines()
    assert len(calls) == 3, calls  # version, CRDs, and every inference type in one get
    inference_types = (
        "inferencepools.v1alpha2.inference.networking.x-k8s.io,inferencemodels.v1alpha2.inference.networking.x-k8s.io"
    )
    assert any(inference_types in c for c in calls)


def test_detect_table_and_verdict_for_people(cluster):
    install_alpha_stack(cluster)
    done = cluster.migrate("detect")
    assert done.returncode == 0, done.stderr
    rows = [re.split(r"\s{2,}", line) for line in done.stdout.splitlines()]
    assert ["InferencePool (v1alpha2)", "default", ALPHA_RELEASE, f"EPP {ALPHA_RELEASE}-epp"] in rows
    assert ["HTTPRoute", "default", "llm-route", f"alpha {ALPHA_RELEASE}=1"] in rows
    assert (
        done.stdout.rstrip()
        .splitlines()[-1]
        .startswith("migration needed: 1 v1alpha2 InferencePool(s), 3 InferenceModel(s); path: zero-downtime")
    )


def test_nothing_alpha_means_no_migration(cluster):
    done = cluster.migrate("detect", "--exit-code", "-o", "yaml")
    assert done.returncode == 0, done.stderr
    found = yaml.safe_load(done.stdout)
    assert found["migration_needed"] is False and found["recommended_path"] is None


def test_releases_of_the_llm_d_router_chart_are_found(emulator):
    """Issue 19.4: GIE v1.6.0 deleted the inferencepool chart (#2967); its successor is llm-d-router's
    llm-d-router-gateway (config/charts/llm-d-router-gateway at llm-d/llm-d-router v0.10.0). A release of it,
    installed by the real Helm, is a release of the GA stack for detect."""
    from conftest import FIXTURES

    emulator.api.load(FIXTURES / "crds" / "inference-extension-v1.6.0-release-manifests.yaml")
    chart = CHARTS / "llm-d-router-gateway-v0.10.0"
    subprocess.run(
        [
            tool("helm3"),
            "install",
            "vllm-router",
            str(chart),
            "--set",
            "router.modelServers.matchLabels.app=vllm",
            # not provider.name=gke: GKE's HealthCheckPolicy CRD refuses the chart's own health check unless the
            # post-renderer fixes it (docs/safety.md), and this release is installed without it
        ],
        check=True,
        capture_output=True,
        env=emulator.env,
    )
    done = emulator.migrate("detect", "-o", "json")
    assert done.returncode == 0, done.stderr
    name = yaml.safe_load((chart / "Chart.yaml").read_text())["name"]
    assert [(r["name"], r["chart"]) for r in json.loads(done.stdout)["releases"]] == [("vllm-router", name)]
    table = emulator.migrate("detect")
    assert re.search(r"Helm release\s+default\s+vllm-router\s+llm-d-router-gateway 0\.0\.0 \(deployed\)", table.stdout)


def test_one_namespace_only(cluster):
    install_alpha_stack(cluster)
    done = cluster.migrate("detect", "-n", "elsewhere", "-o", "json")
    found = json.loads(done.stdout)
    assert found["alpha_pools"] == [] and found["alpha_models"] == [] and not found["migration_needed"]


def test_snapshot_without_a_cluster(emulator, tmp_path):
    install_alpha_stack(emulator)
    snapshot = emulator.kubectl(
        "get",
        "crd,inferencepools.inference.networking.x-k8s.io,inferencemodels.inference.networking.x-k8s.io,httproutes",
        "-A",
        "-o",
        "yaml",
    ).stdout
    (tmp_path / "snapshot.yaml").write_text(snapshot)
    offline = dict(emulator.env, KUBECONFIG=str(tmp_path / "missing-kubeconfig"))
    emulator.env = offline
    before = len(emulator.api.requests)
    done = emulator.migrate(
        "detect", "--from-file", str(tmp_path / "snapshot.yaml"), "--server-version", "v1.34.1-gke.100", "-o", "json"
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [p["name"] for p in found["alpha_pools"]] == [ALPHA_RELEASE] and found["recommended_path"] == "zero-downtime"
    plan = emulator.migrate(
        "plan",
        "--from-file",
        str(tmp_path / "snapshot.yaml"),
        "--server-version",
        "v1.34.1-gke.100",
        "--path",
        "zero-downtime",
        "--alpha-pool",
        ALPHA_RELEASE,
        "-o",
        "json",
    )
    assert plan.returncode == 0, plan.stderr
    steps = json.loads(plan.stdout)["steps"]
    assert [s["key"] for s in steps] == [
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
    crds = next(s for s in steps if s["key"] == "crds")
    # issue 9.6: GKE 1.34.1 would serve the v1 InferencePool CRD, but the snapshot shows it does not yet
    assert "the cluster has no v1 InferencePool CRD: the bundle that holds it" in crds["title"]
    assert len(emulator.api.requests) == before, "offline detect and plan must not reach a emulator"


def test_snapshot_that_is_not_kubernetes_is_refused(tmp_path, cluster):
    (tmp_path / "bad.yaml").write_text("just: a mapping\n")
    done = cluster.migrate("detect", "--from-file", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2 and done.stdout == ""
    assert "--from-file" in done.stderr and "kubectl get" in done.stderr and "Traceback" not in done.stderr


def test_plan_simple_path_reuses_the_release_name(cluster):
    install_alpha_stack(cluster)
    done = cluster.migrate("plan", "--path", "simple", "--alpha-pool", ALPHA_RELEASE)
    assert done.returncode == 0, done.stderr
    assert f"\n   infgw-migrate upgrade {ALPHA_RELEASE} " in done.stdout
    assert "the outage starts here" in done.stdout
    assert "the cluster has no v1 InferencePool CRD: the bundle that holds it" in done.stdout
    # run by Helm as its plugin, the commands are spelled as the user types them there
    as_plugin = cluster.migrate(
        "plan", "--path", "simple", "--alpha-pool", ALPHA_RELEASE, env_extra={"HELM_PLUGIN_NAME": "infgw-migrate"}
    )
    assert f"\n   helm infgw-migrate upgrade {ALPHA_RELEASE} " in as_plugin.stdout


def test_objectives_from_the_cluster_print_then_apply(cluster, schemas):
    from conftest import FIXTURES, GA_GROUP

    install_alpha_stack(cluster)
    args = ["objectives", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", f"{ALPHA_RELEASE}-ga"]
    printed = cluster.migrate(*args)
    assert printed.returncode == 0, printed.stderr
    objectives = [o for o in yaml.safe_load_all(printed.stdout) if o]
    for obj in objectives:
        schemas.validate(obj)
    # upstream's own rewrite of these three models (fixtures/objects/v1.0.0-inferenceobjectives.yaml)
    upstream = {
        o["metadata"]["name"]: o["spec"]["priority"]
        for o in yaml.safe_load_all((FIXTURES / "objects" / "v1.0.0-inferenceobjectives.yaml").read_text())
        if o
    }
    assert {o["metadata"]["name"]: o["spec"]["priority"] for o in objectives} == upstream
    assert all(o["spec"]["poolRef"] == {"group": GA_GROUP, "name": f"{ALPHA_RELEASE}-ga"} for o in objectives)
    assert "NOT CARRIED OVER: modelName" in printed.stderr and "x-gateway-inference-objective" in printed.stderr

    cluster.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    applied = cluster.migrate(*args, "--apply")
    assert applied.returncode == 0, applied.stderr
    stored = cluster.api.all("inference.networking.x-k8s.io/v1alpha2", "InferenceObjective")
    assert sorted(o["metadata"]["name"] for o in stored) == sorted(upstream)


def test_debug_echoes_every_kubectl_and_helm_command(emulator):
    """Issue 24.6: --debug, or HELM_DEBUG=1 as `helm --debug` sets it for a plugin: each command line on stderr as
    it starts, credentials redacted; without either, none."""
    install_alpha_stack(emulator)
    for args, env in ((["--debug", "detect"], None), (["detect"], {"HELM_DEBUG": "1"})):
        done = emulator.migrate(*args, env_extra=env)
        assert done.returncode == 0, done.stderr
        echoed = [line for line in done.stderr.splitlines() if line.startswith("debug: ")]
        assert any(re.search(r"kubectl .*get ", line) for line in echoed), echoed
        assert any(" list -o json" in line for line in echoed), echoed  # helm list
    quiet = emulator.migrate("detect")
    assert "debug: " not in quiet.stderr


def test_debug_redacts_credentials(capsys, monkeypatch):
    from infgw_postrender.cluster import debug

    monkeypatch.setenv("INFGW_DEBUG", "1")
    debug.echo(["kubectl", "--token=s3cret", "get", "pods", "--password", "hunter2", "--kube-token", "t0k"])
    assert (
        capsys.readouterr().err
        == "debug: kubectl '--token=[redacted]' get pods --password '[redacted]' --kube-token '[redacted]'\n"
    )


def test_helm_s_namespace_is_the_one_detect_answers_for(cluster):
    """Issue 20.5: `helm infgw-migrate detect -n llm` reaches the plugin as HELM_NAMESPACE=llm without -n; detect
    answers for that namespace (the help's CI gate), and -A for every one."""
    install_alpha_stack(cluster)
    elsewhere = json.loads(cluster.migrate("detect", "-o", "json", env_extra={"HELM_NAMESPACE": "elsewhere"}).stdout)
    assert elsewhere["alpha_pools"] == [] and not elsewhere["migration_needed"]
    every = json.loads(cluster.migrate("detect", "-A", "-o", "json", env_extra={"HELM_NAMESPACE": "elsewhere"}).stdout)
    assert [p["name"] for p in every["alpha_pools"]] == [ALPHA_RELEASE]


def test_plan_refuses_a_gateway_of_another_controller_before_any_step(cluster):
    """Issue 23.5: plan and migrate read the Gateway's class with the rest of the cluster, before any step; one
    vouched for travels to each stage's shift, so what plan prints is what runs."""
    install_alpha_stack(cluster)
    gateway = cluster.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    gateway["spec"]["gatewayClassName"] = "istio"
    cluster.api.put({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "istio"},
                     "spec": {"controllerName": "istio.io/gateway-controller"}})  # fmt: skip
    args = ["plan", "--path", "zero-downtime", "--alpha-pool", ALPHA_RELEASE, "--stages", "0,100"]
    done = cluster.migrate(*args)
    assert (
        done.returncode == 3
        and "before any step (reading the cluster): Gateway default/inference-gateway" in done.stderr
    )
    assert "pass --accept-gateway-class istio; nothing changed" in done.stderr
    accepted = cluster.migrate(*args, "--accept-gateway-class", "istio", "-o", "json")
    assert accepted.returncode == 0, accepted.stderr
    found = json.loads(accepted.stdout)
    assert any("accepted with --accept-gateway-class istio" in note for note in found["notes"])
    stages = [step["argv"] for step in found["steps"] if step["key"].startswith("stage")]
    assert stages and all(argv[argv.index("--accept-gateway-class") + 1] == "istio" for argv in stages)


@pytest.mark.parametrize("path, words", [("/nonexistent/kubeconfig", "no such file"), ("/", "cannot read it")])
def test_a_kubeconfig_that_cannot_be_read_is_one_line_before_anything(cluster, path, words):
    """Issue 24.5: --kubeconfig on every cluster command; a file that is not there is named, exit 2, no read."""
    for command in (["detect"], ["status", "--alpha-pool", "vllm"], ["plan", "--path", "simple", "--alpha-pool", "x"]):
        done = cluster.migrate(*command, "--kubeconfig", path)
        assert (
            done.returncode == 2
            and done.stderr == f"Error: --kubeconfig {path}: {words}; give the kubeconfig file to use\n"
        )
    assert cluster.api.requests == []


def test_kubeconfig_reaches_kubectl_and_helm_and_the_printed_commands(emulator, tmp_path):
    """Issue 24.5, e2e: with KUBECONFIG pointing nowhere, --kubeconfig FILE is what kubectl and Helm read, and the
    commands plan prints name it, so that each pasted into a shell reaches the same cluster."""
    install_alpha_stack(emulator)
    config = tmp_path / "elsewhere.yaml"
    config.write_text(Path(emulator.env["KUBECONFIG"]).read_text())
    env = {"KUBECONFIG": str(tmp_path / "none")}
    done = emulator.migrate("detect", "-o", "json", "--kubeconfig", str(config), env_extra=env)
    assert done.returncode == 0, done.stderr
    assert [p["name"] for p in json.loads(done.stdout)["alpha_pools"]] == [ALPHA_RELEASE]
    assert json.loads(done.stdout)["releases"], "helm list read the same cluster"
    plan = emulator.migrate("plan", "--path", "zero-downtime", "--alpha-pool", ALPHA_RELEASE, "--stages", "0",
                            "--kubeconfig", str(config), "-o", "json", env_extra=env)  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    for step in json.loads(plan.stdout)["steps"]:
        if step["argv"][0] in ("infgw-migrate", "helm", "kubectl") and step["key"] != "check-chart":
            assert step["argv"][step["argv"].index("--kubeconfig") + 1] == str(config), step["argv"]

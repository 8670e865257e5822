"""`install`, `upgrade` and `template` wire the post-renderer into the real Helm 3 and Helm 4, and the Argo CD
plugin's generate command, run as Argo CD runs it, renders what the post-renderer renders."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import pytest
import yaml

from conftest import CHARTS, FIXTURES, POSTRENDER, REPO, docs, tool

CHART = str(CHARTS / "inferencepool-v1.0.0")
CHART_VALUES = ["--set", "inferencePool.modelServers.matchLabels.app=vllm-llama3-8b-instruct"]
MIGRATION = ["--alpha-pool", "vllm", "--ga-weight", "50", "--objective", "food-review=2"]


@pytest.fixture(params=[3, 4], ids=["helm3", "helm4"])
def cluster_helm(request, cluster):
    """The loopback cluster with the GA CRDs, and HELM_BIN set to Helm 3 or Helm 4."""
    cluster.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    cluster.env["HELM_BIN"] = tool(f"helm{request.param}")
    cluster.major = request.param
    return cluster


def by_identity(objects: list[dict]) -> list[dict]:
    """Helm 4 lists an install's manifests in install order (by kind), Helm 3 and `template` in chart order."""
    return sorted(objects, key=lambda o: (o["kind"], o["metadata"]["name"]))


def manifest_of(dry_run_output: str) -> list[dict]:
    """The MANIFEST section of `helm install --dry-run` output."""
    return by_identity(docs(dry_run_output.split("MANIFEST:", 1)[1].split("\nNOTES:", 1)[0]))


def expected(cluster, *post_render: str) -> list[dict]:
    """`helm template` of the same chart, piped through the post-renderer by hand."""
    rendered = subprocess.run([cluster.env["HELM_BIN"], "template", "vllm-ga", CHART, "-n", "llm", *CHART_VALUES],
                              capture_output=True, text=True, env=cluster.env, check=True).stdout
    done = subprocess.run([str(POSTRENDER), "-q", *post_render], input=rendered, capture_output=True, text=True, check=True)
    return by_identity(docs(done.stdout))


@pytest.mark.parametrize("verb", ["install", "upgrade"])
def test_dry_run_prints_the_helm_command_and_renders_the_migration(cluster_helm, verb):
    extra = ["--install"] if verb == "upgrade" else []
    done = cluster_helm.migrate(verb, "vllm-ga", CHART, "-n", "llm", *extra, *CHART_VALUES, *MIGRATION, "--dry-run")
    assert done.returncode == 0, done.stderr
    command = shlex.split(done.stderr.splitlines()[0].removeprefix("+ "))
    renderer = str(POSTRENDER) if cluster_helm.major == 3 else "infgw-postrender"
    assert command == [cluster_helm.env["HELM_BIN"], verb, "vllm-ga", CHART, "-n", "llm", *extra, *CHART_VALUES,
                       "--post-renderer", renderer, "--post-renderer-args=--alpha-pool=vllm",
                       "--post-renderer-args=--ga-weight=50", "--post-renderer-args=--objective=food-review=2",
                       "--dry-run=client"]
    assert manifest_of(done.stdout) == expected(cluster_helm, "--alpha-pool=vllm", "--ga-weight=50", "--objective=food-review=2")
    # a client dry run: Helm read the cluster and changed nothing
    assert all(method == "GET" for method, _ in cluster_helm.api.requests)
    assert cluster_helm.api.all("v1", "Secret") == []


def test_helm_flags_that_would_fight_the_wiring_are_refused(cluster_helm):
    done = cluster_helm.migrate("install", "vllm-ga", CHART, "--post-renderer", "/bin/cat")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == "Error: install: --post-renderer is set by infgw-migrate install; leave it out"


def test_flags_before_release_are_refused(cluster_helm):
    done = cluster_helm.migrate("install", "--alpha-pool", "vllm", "-n", "llm", "vllm-ga", CHART)
    assert done.returncode == 2
    assert "RELEASE and CHART come first" in done.stderr


def test_argocd_plugin_generate_renders_what_the_post_renderer_renders(cluster_helm, tmp_path):
    """The plugin's generate command in a plain `sh`, from the app's folder, with Argo CD's variables."""
    plugin = yaml.safe_load((REPO / "scripts" / "argocd" / "plugin.yaml").read_text())
    generate = plugin["spec"]["generate"]
    app = tmp_path / "app"
    shutil.copytree(CHART, app)
    env = dict(cluster_helm.env, ARGOCD_APP_NAME="vllm-ga", ARGOCD_APP_NAMESPACE="llm",
               ARGOCD_ENV_HELM_ARGS=" ".join(CHART_VALUES), ARGOCD_ENV_INFGW_ARGS=" ".join(MIGRATION))
    env.pop("HELM_BIN")  # the sidecar has `helm` on PATH, nothing more
    (tmp_path / "bin" / "helm").unlink()
    (tmp_path / "bin" / "helm").symlink_to(tool(f"helm{cluster_helm.major}"))
    done = subprocess.run(generate["command"] + generate["args"], cwd=app, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert by_identity(docs(done.stdout)) == expected(cluster_helm, "--alpha-pool=vllm", "--ga-weight=50", "--objective=food-review=2")
    assert plugin["spec"]["discover"]["fileName"] == "./Chart.yaml"

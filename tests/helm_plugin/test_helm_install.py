"""`install`, `upgrade` and `template` wire the post-renderer into the real Helm 3 and Helm 4, and the Argo CD
plugin's generate command, run as Argo CD runs it, renders what the post-renderer renders."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import pytest
import yaml
from conftest import CHARTS, FIXTURES, MIGRATE, POSTRENDER, REPO, alpha_pool, docs, put_serving, tool

CHART = str(CHARTS / "inferencepool-v1.0.0")
CHART_VALUES = ["--set", "inferencePool.modelServers.matchLabels.app=vllm-llama3-8b-instruct"]
MIGRATION = ["--alpha-pool", "vllm", "--ga-weight", "50", "--objective", "food-review=2"]


@pytest.fixture(params=[3, 4], ids=["helm3", "helm4"])
def cluster_helm(request, cluster):
    """The loopback cluster with the GA CRDs, the alpha pool `vllm` serving in `llm`, and HELM_BIN set to Helm 3
    or Helm 4."""
    cluster.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    cluster.api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}})
    put_serving(cluster.api, alpha_pool("vllm", "llm"))
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
    rendered = subprocess.run(
        [cluster.env["HELM_BIN"], "template", "vllm-ga", CHART, "-n", "llm", *CHART_VALUES],
        capture_output=True,
        text=True,
        env=cluster.env,
        check=True,
    ).stdout
    done = subprocess.run(
        [str(POSTRENDER), "-q", *post_render], input=rendered, capture_output=True, text=True, check=True
    )
    return by_identity(docs(done.stdout))


@pytest.mark.parametrize("verb", ["install", "upgrade"])
def test_dry_run_prints_the_helm_command_and_renders_the_migration(cluster_helm, verb):
    extra = ["--install"] if verb == "upgrade" else []
    done = cluster_helm.migrate(verb, "vllm-ga", CHART, "-n", "llm", *extra, *CHART_VALUES, *MIGRATION, "--dry-run")
    assert done.returncode == 0, done.stderr
    command = shlex.split(done.stderr.splitlines()[0].removeprefix("+ "))
    renderer = str(POSTRENDER) if cluster_helm.major == 3 else "infgw-postrender"
    error_file = next(arg for arg in command if arg.startswith("--post-renderer-args=--error-file="))
    command.remove(error_file)  # a private temporary file: where the post-renderer's error lands (issue 11.1)
    assert error_file.endswith("/post-renderer-error")
    assert command == [
        cluster_helm.env["HELM_BIN"],
        verb,
        "vllm-ga",
        CHART,
        "-n",
        "llm",
        *extra,
        *CHART_VALUES,
        "--post-renderer",
        renderer,
        "--post-renderer-args=--alpha-pool=vllm",
        "--post-renderer-args=--ga-weight=50",
        "--post-renderer-args=--objective=food-review=2",
        "--dry-run=client",
    ]
    assert manifest_of(done.stdout) == expected(
        cluster_helm, "--alpha-pool=vllm", "--ga-weight=50", "--objective=food-review=2"
    )
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
    env = dict(
        cluster_helm.env,
        ARGOCD_APP_NAME="vllm-ga",
        ARGOCD_APP_NAMESPACE="llm",
        ARGOCD_ENV_HELM_ARGS=" ".join(CHART_VALUES),
        ARGOCD_ENV_INFGW_ARGS=" ".join(MIGRATION),
    )
    env.pop("HELM_BIN")  # the sidecar has `helm` on PATH, nothing more
    (tmp_path / "bin" / "helm").unlink()
    (tmp_path / "bin" / "helm").symlink_to(tool(f"helm{cluster_helm.major}"))
    done = subprocess.run(generate["command"] + generate["args"], cwd=app, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert by_identity(docs(done.stdout)) == expected(
        cluster_helm, "--alpha-pool=vllm", "--ga-weight=50", "--objective=food-review=2"
    )
    # issue 11.4: no discovery rule, which would take over unrelated Applications (plugins are tried before Helm)
    assert "discover" not in plugin["spec"]


def test_argocd_application_names_the_ga_pool_whatever_the_application_is_called(cluster_helm, tmp_path):
    """Issue 11.4: the release is $ARGOCD_APP_NAME; the Application's own INFGW_ARGS name the GA pool."""
    plugin = yaml.safe_load((REPO / "scripts" / "argocd" / "plugin.yaml").read_text())
    application = yaml.safe_load((REPO / "scripts" / "argocd" / "application.yaml").read_text())
    assert (
        application["spec"]["source"]["plugin"]["name"] == f"{plugin['metadata']['name']}-{plugin['spec']['version']}"
    )
    app_env = {item["name"]: item["value"] for item in application["spec"]["source"]["plugin"]["env"]}
    app = tmp_path / "app"
    shutil.copytree(CHART, app)
    env = dict(
        cluster_helm.env,
        ARGOCD_APP_NAME=application["metadata"]["name"],
        ARGOCD_APP_NAMESPACE=application["spec"]["destination"]["namespace"],
        ARGOCD_ENV_HELM_ARGS=app_env["HELM_ARGS"],
        ARGOCD_ENV_INFGW_ARGS=app_env["INFGW_ARGS"],
    )
    generate = plugin["spec"]["generate"]
    done = subprocess.run(generate["command"] + generate["args"], cwd=app, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    objects = docs(done.stdout)
    (pool,) = [o for o in objects if o["kind"] == "InferencePool"]
    assert pool["metadata"]["name"] == "vllm-llama3-8b-instruct-ga"
    assert {o["spec"]["poolRef"]["name"] for o in objects if o["kind"] == "InferenceObjective"} == {
        pool["metadata"]["name"]
    }


def test_a_bad_post_renderer_flag_is_refused_before_helm_runs(cluster_helm):
    """Issue 11.1: on Helm 4 a failing post-renderer's message is never shown, so the wrapper checks every
    post-renderer flag and file itself, before calling Helm."""
    done = cluster_helm.migrate(
        "template", "vllm-ga", CHART, *CHART_VALUES, "--alpha-pool", "vllm", "--ga-weight", "150"
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: --ga-weight 150: out of range") and "+ helm" not in done.stderr
    missing = cluster_helm.migrate(
        "template", "vllm-ga", CHART, *CHART_VALUES, "--objectives-from", "/nonexistent.yaml"
    )
    assert missing.returncode == 2 and "--objectives-from /nonexistent.yaml: cannot read it" in missing.stderr


def test_the_post_renderer_s_error_reaches_the_user_through_either_helm(cluster_helm, tmp_path):
    """Issue 11.1: an error only the manifests reveal (the v0.3.0 chart's EPP cannot serve a v1 pool): Helm
    fails, and the wrapper prints the post-renderer's line, which Helm 4 keeps to itself. --report has it too."""
    report = tmp_path / "report.json"
    done = cluster_helm.migrate(
        "template",
        "vllm-ga",
        str(CHARTS / "inferencepool-v0.3.0"),
        *CHART_VALUES,
        "--alpha-pool",
        "vllm",
        "--report",
        str(report),
    )
    assert done.returncode != 0 and done.stdout == ""
    last = done.stderr.strip().splitlines()[-1]
    assert "predates v1.0.0" in last and last.endswith("(the post-renderer's error)"), done.stderr
    assert "predates v1.0.0" in json.loads(report.read_text())["error"]


def test_a_direct_helm_4_run_leaves_the_error_where_it_can_be_read(cluster_helm, tmp_path):
    """Issue 11.1: `helm template --post-renderer infgw-postrender` on Helm 4 shows only 'exited with error';
    --post-renderer-args --error-file=F keeps the line (and at a terminal it is written there)."""
    if cluster_helm.major != 4:
        pytest.skip("Helm 3 shows a failing post-renderer's stderr itself")
    error_file = tmp_path / "error.txt"
    subprocess.run([str(MIGRATE), "install-postrenderer"], env=cluster_helm.env, check=True, capture_output=True)
    done = subprocess.run(
        [
            cluster_helm.env["HELM_BIN"],
            "template",
            "vllm-ga",
            CHART,
            *CHART_VALUES,
            "--post-renderer",
            "infgw-postrender",
            "--post-renderer-args",
            "--alpha-pool=vllm",
            "--post-renderer-args",
            "--ga-weight=150",
            "--post-renderer-args",
            f"--error-file={error_file}",
        ],
        capture_output=True,
        text=True,
        env=cluster_helm.env,
    )
    assert done.returncode != 0 and "out of range" not in done.stderr, "Helm 4 still hides it"
    assert error_file.read_text().startswith("Error: --ga-weight 150: out of range")


def test_the_printed_helm_command_keeps_the_namespace_helm_consumed(cluster_helm):
    """Issue 11.7: `helm infgw-migrate template ... -n llm` reaches the plugin as HELM_NAMESPACE=llm, without -n."""
    done = cluster_helm.migrate("template", "vllm-ga", CHART, *CHART_VALUES, env_extra={"HELM_NAMESPACE": "llm"})
    assert done.returncode == 0, done.stderr
    printed = shlex.split(done.stderr.splitlines()[0].removeprefix("+ "))
    assert printed[printed.index("-n") + 1] == "llm"
    assert {o["metadata"].get("namespace") for o in docs(done.stdout) if o["kind"] == "InferencePool"} == {"llm"}


def test_a_mistyped_alpha_pool_is_refused_before_helm_runs(cluster_helm):
    """Issue 20.4: `install --alpha-pool <typo> --ga-weight 50` would deploy a route that sends half the traffic to a
    pool that does not exist (the Gateway reports BackendNotFound). The checks `shift` makes come first: exit 3,
    one line naming the pool, Helm never runs."""
    done = cluster_helm.migrate(
        "install", "vllm-ga", CHART, "-n", "llm", *CHART_VALUES, "--alpha-pool", "vlm", "--ga-weight", "50"
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: --alpha-pool vlm --ga-weight 50: the route would send traffic (weight 50) to the alpha InferencePool "
        "llm/vlm, which does not exist; nothing changed"
    ]
    assert cluster_helm.api.writes() == [] and cluster_helm.api.all("v1", "Secret") == []

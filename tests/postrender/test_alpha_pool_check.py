"""Issue 20.4: the bare post-renderer (`helm install --post-renderer`, no wrapper) cannot be told to check, so it
checks: with --ga-weight below 100 its route leaves the alpha pool traffic, and that pool and its EPP are read
through kubectl first. Missing: refused, nothing written. No cluster answers: rendered, and the report says it
was not checked. --offline: not read on purpose, and said so."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import CHARTS, POSTRENDER, alpha_pool, docs, put_serving, tool

pytestmark = pytest.mark.e2e


@pytest.fixture
def rendered(cluster) -> str:
    """The v1.0.0 chart rendered into `llm`, where the alpha pool `vllm` serves."""
    cluster.api.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}})
    put_serving(cluster.api, alpha_pool("vllm", "llm"))
    return subprocess.run(
        [
            tool("helm4"),
            "template",
            "vllm-ga",
            str(CHARTS / "inferencepool-v1.0.0"),
            "-n",
            "llm",
            "--set",
            "inferencePool.modelServers.matchLabels.app=vllm",
        ],
        capture_output=True,
        text=True,
        env=cluster.env,
        check=True,
    ).stdout


def post_render(
    cluster, stdin: str, tmp_path, *args: str, env: dict | None = None
) -> tuple[subprocess.CompletedProcess, dict]:
    report = tmp_path / "report.json"
    done = subprocess.run(
        [str(POSTRENDER), "-q", f"--report={report}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env or cluster.env,
    )
    return done, json.loads(report.read_text()) if report.exists() else {}


def test_a_mistyped_alpha_pool_is_refused_and_nothing_is_written(cluster, rendered, tmp_path):
    done, report = post_render(cluster, rendered, tmp_path, "--alpha-pool=vlm", "--ga-weight=50")
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.strip() == (
        "Error: HTTPRoute llm-route would send traffic (weight 50) to the alpha "
        "InferencePool llm/vlm, which does not exist; nothing changed"
    )
    assert report == {"error": done.stderr.strip()}
    assert cluster.api.writes() == []


def test_an_alpha_pool_without_its_epp_is_refused(cluster, rendered, tmp_path):
    cluster.api.put(alpha_pool("no-epp", "llm"))
    done, _ = post_render(cluster, rendered, tmp_path, "--alpha-pool=no-epp", "--ga-weight=50")
    assert done.returncode == 3 and done.stdout == ""
    assert "EPP Deployment no-epp-epp does not exist" in done.stderr


def test_the_alpha_pool_that_serves_is_checked_and_the_report_says_where(cluster, rendered, tmp_path):
    done, report = post_render(cluster, rendered, tmp_path, "--alpha-pool=vllm", "--ga-weight=50")
    assert done.returncode == 0, done.stderr
    route = next(o for o in docs(done.stdout) if o["kind"] == "HTTPRoute")
    assert [ref["weight"] for ref in route["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    assert "HTTPRoute llm-route: the alpha pool vllm and its EPP exist (kubectl's current context)" in report["notes"]
    reads = [path for method, path in cluster.api.requests if "/inferencepools" in path or "/deployments" in path]
    # the pool and its EPP are read in the pool's namespace, with the other kinds a check judges from
    assert any(path.endswith("/namespaces/llm/inferencepools") for path in reads), reads
    assert any(path.endswith("/namespaces/llm/deployments") for path in reads), reads


def test_all_traffic_on_ga_reads_no_cluster(cluster, rendered, tmp_path):
    """At 100 the route sends the alpha pool nothing: there is nothing to check."""
    done, report = post_render(cluster, rendered, tmp_path, "--alpha-pool=vlm", "--ga-weight=100")
    assert done.returncode == 0, done.stderr
    assert cluster.api.requests == [] and not any("alpha pool" in note for note in report["notes"])


def test_no_cluster_renders_and_says_the_pool_was_not_checked(cluster, rendered, tmp_path):
    unreachable = {**cluster.env, "KUBECONFIG": str(tmp_path / "none")}  # kubectl then dials localhost:8080
    done, report = post_render(cluster, rendered, tmp_path, "--alpha-pool=vlm", "--ga-weight=50", env=unreachable)
    assert done.returncode == 0, done.stderr
    [note] = [note for note in report["notes"] if "alpha pool" in note]
    assert note.startswith(
        "HTTPRoute llm-route: could not check on a cluster that the alpha pool vlm and its EPP exist"
    )
    assert note.endswith("pass --offline when rendering without one") and "localhost:8080 was refused" in note
    assert (
        f"note: {note}"
        in subprocess.run(
            [str(POSTRENDER), "--alpha-pool=vlm", "--ga-weight=50"],
            input=rendered,
            capture_output=True,
            text=True,
            env=unreachable,
        ).stderr
    )


def test_offline_reads_no_cluster_and_says_so(cluster, rendered, tmp_path):
    done, report = post_render(cluster, rendered, tmp_path, "--alpha-pool=vlm", "--ga-weight=50", "--offline")
    assert done.returncode == 0, done.stderr
    assert cluster.api.requests == []
    assert "HTTPRoute llm-route: the alpha pool vlm was not checked on a cluster (--offline)" in report["notes"]


def test_helm_passes_the_refusal_on_and_installs_nothing(cluster, rendered, tmp_path):
    """Through Helm 3's --post-renderer: the install fails before Helm writes anything."""
    error_file = tmp_path / "error"
    done = subprocess.run(
        [
            tool("helm3"),
            "install",
            "vllm-ga",
            str(CHARTS / "inferencepool-v1.0.0"),
            "-n",
            "llm",
            "--set",
            "inferencePool.modelServers.matchLabels.app=vllm",
            "--post-renderer",
            str(POSTRENDER),
            "--post-renderer-args",
            "--alpha-pool=vlm",
            "--post-renderer-args",
            "--ga-weight=50",
            "--post-renderer-args",
            f"--error-file={error_file}",
        ],
        capture_output=True,
        text=True,
        env=cluster.env,
    )
    assert done.returncode != 0 and "llm/vlm, which does not exist" in done.stderr
    assert error_file.read_text().startswith("Error: HTTPRoute llm-route would send traffic")
    assert cluster.api.writes() == []


@pytest.mark.parametrize("major", [3, 4])
def test_the_wrapper_passes_offline_and_helm_s_context_on(cluster, rendered, tmp_path, major):
    """`infgw-migrate template --offline` reaches the post-renderer under either Helm; Helm's --kube-context is
    the context the post-renderer checks on."""
    report = tmp_path / "report.json"
    chart = [
        "vllm-ga",
        str(CHARTS / "inferencepool-v1.0.0"),
        "-n",
        "llm",
        "--set",
        "inferencePool.modelServers.matchLabels.app=vllm",
        "--alpha-pool",
        "vllm",
        "--ga-weight",
        "50",
        "--report",
        str(report),
    ]
    helm = {"HELM_BIN": tool(f"helm{major}")}
    if major == 4:
        assert cluster.migrate("install-postrenderer", env_extra=helm).returncode == 0
    done = cluster.migrate("template", *chart, "--offline", env_extra=helm)
    assert done.returncode == 0, done.stderr
    assert (
        "HTTPRoute llm-route: the alpha pool vllm was not checked on a cluster (--offline)"
        in json.loads(report.read_text())["notes"]
    )
    done = cluster.migrate("template", *chart, "--kube-context", "loopback", env_extra=helm)
    assert done.returncode == 0, done.stderr
    assert (
        "HTTPRoute llm-route: the alpha pool vllm and its EPP exist (context loopback)"
        in json.loads(report.read_text())["notes"]
    )


def test_a_cluster_that_cannot_be_read_is_asked_once_for_the_whole_stream(cluster, tmp_path):
    """Issue 33: 1,000 releases of an umbrella chart rendered without a cluster took 57 s, one failing kubectl for
    each route (c132675: 0.9 s). A namespace that could not be read is not asked again: one kubectl, a note a route."""
    releases = [f"pool-{n}" for n in range(3)]
    stream = "".join(
        subprocess.run([tool("helm4"), "template", release, str(CHARTS / "inferencepool-v1.0.0"), "--set",
                        "inferencePool.modelServers.matchLabels.app=vllm"],
                       capture_output=True, text=True, env=cluster.env, check=True).stdout
        for release in releases
    )  # fmt: skip
    calls = tmp_path / "calls"
    shim = tmp_path / "kubectl"
    shim.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexec {tool("kubectl")} "$@"\n')
    shim.chmod(0o755)
    unreachable = {**cluster.env, "KUBECONFIG": str(tmp_path / "none"), "KUBECTL": str(shim)}
    done, report = post_render(cluster, stream, tmp_path, "--alpha-pool={release}-alpha", "--ga-weight=50",
                               "--route-name={release}-route", env=unreachable)  # fmt: skip
    assert done.returncode == 0, done.stderr
    notes = [note for note in report["notes"] if "could not check on a cluster" in note]
    assert [note.split(":")[0] for note in notes] == [f"HTTPRoute {release}-route" for release in releases]
    assert len(calls.read_text().splitlines()) == 1, calls.read_text()

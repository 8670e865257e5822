"""`helm plugin install <repo>` on a fresh HELM_DATA_HOME, with Helm 3 and Helm 4, as a user does it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CHARTS, docs, helm_env

pytestmark = pytest.mark.e2e  # helm plugin install on the real Helm 3 and Helm 4


@pytest.mark.parametrize("major", [3, 4])
def test_plugin_installs_and_wires_the_post_renderer(tmp_path, repo_copy, major):
    helm = helm_env(tmp_path, major)
    helm.run("plugin", "install", str(repo_copy))
    listed = helm.run("plugin", "list").stdout
    assert "infgw-migrate" in listed

    usage = helm.run("infgw-migrate", "--help").stdout
    assert "install-postrenderer" in usage and "postrender" in usage

    wired = helm.run("infgw-migrate", "install-postrenderer")
    after = helm.run("plugin", "list")  # Helm 3 must still load its plugins (no v1 plugin.yaml was added)
    assert "infgw-migrate" in after.stdout
    post_renderer = wired.stdout.strip()
    if major == 3:
        assert os.path.isabs(post_renderer) and os.access(post_renderer, os.X_OK)
        assert "infgw-postrender" not in after.stdout.replace("infgw-migrate", "")
    else:
        assert post_renderer == "infgw-postrender"
        assert "postrenderer/v1" in after.stdout

    rendered = helm.run(
        "template",
        "vllm-ga",
        str(CHARTS / "inferencepool-v1.0.0"),
        "--set",
        "inferencePool.modelServers.matchLabels.app=vllm",
        "--set",
        "inferencePool.apiVersion=inference.networking.x-k8s.io/v1alpha2",
        "--post-renderer",
        post_renderer,
        "--post-renderer-args",
        "--objective=chat=2",
    ).stdout
    kinds = {(o["apiVersion"], o["kind"]) for o in docs(rendered)}
    assert ("inference.networking.k8s.io/v1", "InferencePool") in kinds
    assert ("inference.networking.x-k8s.io/v1alpha2", "InferenceObjective") in kinds


@pytest.mark.parametrize("major", [3, 4])
def test_a_local_install_leaves_the_checkout_clean_and_uninstall_removes_everything(tmp_path, repo_copy, major):
    """Issue 11.5: Helm links a local folder, so the venv goes to Helm's data folder (no .plugin-venv, build/
    or *.egg-info in the source); `helm plugin uninstall` also removes the Helm 4 post-renderer plugin and the
    data folder."""
    helm = helm_env(tmp_path, major)
    before = sorted(p.name for p in repo_copy.iterdir())
    helm.run("plugin", "install", str(repo_copy))
    assert sorted(p.name for p in repo_copy.iterdir()) == before, "the checkout is left as it was"
    data = Path(helm.env["HELM_DATA_HOME"]) / "infgw-migrate"
    assert (data / "venv" / "bin" / "infgw-migrate").exists()
    assert not (data / "venv" / "bin" / "pip").exists(), "this Python's pip installed into an environment without one"
    helm.run("infgw-migrate", "install-postrenderer")
    done = helm.run("plugin", "uninstall", "infgw-migrate")
    listed = helm.run("plugin", "list").stdout
    assert "infgw-migrate" not in listed and "infgw-postrender" not in listed, listed
    assert not data.exists(), done.stdout + done.stderr


def test_install_without_python_fails_with_one_line(tmp_path, repo_copy):
    helm = helm_env(tmp_path, 3)
    helm.env["INFGW_PYTHON"] = "/nonexistent/python3"
    done = helm.run("plugin", "install", str(repo_copy), check=False)
    assert done.returncode != 0
    assert "Error: infgw-migrate plugin: /nonexistent/python3 not found; install Python 3.11 or later" in done.stderr


def test_a_python_without_pip_makes_an_environment_with_its_own(tmp_path, repo_copy):
    """The install hook installs with the given Python's own pip (pip 22.3's --python) into an environment made
    without one. A Python without pip (a distribution's python3 without its pip package) gets the environment
    with a pip of its own, as before, and the plugin works the same."""
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    assert subprocess.run([bare / "bin" / "python", "-m", "pip", "--version"], capture_output=True).returncode != 0
    helm = helm_env(tmp_path, 3)
    helm.env["INFGW_PYTHON"] = str(bare / "bin" / "python")
    helm.run("plugin", "install", str(repo_copy))
    venv = Path(helm.env["HELM_DATA_HOME"]) / "infgw-migrate" / "venv"
    assert (venv / "bin" / "pip").exists()
    assert "install-postrenderer" in helm.run("infgw-migrate", "--help").stdout


def test_helm_4_uninstall_removes_the_post_renderer_without_helm_bin(tmp_path, repo_copy):
    """Issue 20.6: Helm 4 sets no HELM_BIN for a plugin's hooks; with none in the shell and no `helm` on PATH,
    uninstalling the plugin still removes the post-renderer plugin it added, leaving no dangling link."""
    helm = helm_env(tmp_path, 4)
    helm.env.pop("HELM_BIN")
    helm.env["PATH"] = ":".join(part for part in helm.env["PATH"].split(":") if not (Path(part) / "helm").exists())
    helm.run("plugin", "install", str(repo_copy))
    done = helm.run("infgw-migrate", "install-postrenderer")
    assert "infgw-postrender" in helm.run("plugin", "list").stdout, done.stderr
    helm.run("plugin", "uninstall", "infgw-migrate")
    plugins = Path(helm.env["HELM_DATA_HOME"]) / "plugins"
    assert "infgw-postrender" not in helm.run("plugin", "list").stdout
    assert not [p for p in plugins.iterdir() if p.is_symlink() and not p.exists()], "a dangling plugin link"


@pytest.mark.parametrize("major", [3, 4])
def test_helm_completes_the_plugin_s_commands_and_flags(tmp_path, repo_copy, major):
    """Issue 24.4: after `helm plugin install` of a checkout, Helm's own completion (`helm __complete`, what its
    shell scripts call) answers from the plugin's plugin.complete: commands, then a command's flags."""
    helm = helm_env(tmp_path, major)
    helm.run("plugin", "install", str(repo_copy))

    def offered(*words: str) -> list[str]:
        lines = helm.run("__complete", "infgw-migrate", *words).stdout.splitlines()
        assert lines[-1] == ":4", lines  # cobra's NoFileComp: the plugin said what may come, not files
        return lines[:-1]

    assert "migrate" in offered("mi")
    assert set(offered("s")) >= {"shift", "status"}
    assert "--path" in offered("migrate", "--pa")
    assert set(offered("status", "-n", "llm", "--al")) == {"--alpha-pool"}  # Helm's own -n is not passed on

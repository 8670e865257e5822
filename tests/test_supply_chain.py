"""No shell anywhere, downloads only over HTTPS or from a mirror the user names, and credentials never in what
the tool prints or writes."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from conftest import ALPHA_RELEASE, REPO, install_alpha_stack

SECRET_TOKEN = "s3cr3t-kubeconfig-token-0123456789"
SECRET_HELM = "s3cr3t-helm-kubetoken-9876543210"


def python_sources() -> list[Path]:
    return sorted((REPO / "infgw_postrender").rglob("*.py")) + sorted((REPO / "scripts").glob("*.py"))


def test_no_shell_anywhere():
    offenders = []
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    offenders.append(f"{path.name}:{node.lineno} shell=")
            function = node.func
            if (
                isinstance(function, ast.Attribute)
                and isinstance(function.value, ast.Name)
                and (function.value.id, function.attr)
                in (("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"))
            ):
                offenders.append(f"{path.name}:{node.lineno} {function.value.id}.{function.attr}")
    assert python_sources() and offenders == []


@pytest.mark.parametrize("source", ["ftp://mirror.example/crds", "file:///etc/passwd"])
def test_only_https_or_a_named_mirror(cluster, source):
    done = cluster.migrate("crds", "--apply", "--source", source)
    assert done.returncode == 1 and "only https://" in done.stderr
    assert not [r for r in cluster.api.requests if r[0] != "GET"]


def test_credentials_never_appear_in_output_reports_or_backups(cluster, tmp_path):
    kubeconfig = Path(cluster.env["KUBECONFIG"])
    config = yaml.safe_load(kubeconfig.read_text())
    config["users"][0]["user"]["token"] = SECRET_TOKEN
    kubeconfig.write_text(yaml.safe_dump(config))
    cluster.env["HELM_KUBETOKEN"] = SECRET_HELM
    install_alpha_stack(cluster)
    cluster.api.fail("*", "/httproutes", 403, times=None)  # a refusal that kubectl reports in full
    outputs = [
        cluster.migrate("detect", "-o", "json"),
        cluster.migrate(
            "shift",
            "--route",
            "llm-route",
            "--alpha-pool",
            ALPHA_RELEASE,
            "--ga-pool",
            "x",
            "--ga-weight",
            "50",
            "--force",
        ),
        cluster.migrate(
            "cleanup", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", "x", "--backup", str(tmp_path / "b.yaml")
        ),
        cluster.migrate("objectives", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", "x"),
        cluster.migrate("plan", "--path", "zero-downtime", "--alpha-pool", ALPHA_RELEASE, "-o", "json"),
    ]
    cluster.api.faults.clear()
    outputs.append(cluster.migrate("detect", "--kube-context", "no-such-context"))
    assert any(o.returncode != 0 for o in outputs), "the refusals above must have been reported"
    written = [
        p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and p != kubeconfig and "HELM_" not in str(p)
    ]
    for text in [o.stdout + o.stderr for o in outputs] + written:
        assert SECRET_TOKEN not in text and SECRET_HELM not in text

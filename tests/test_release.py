"""One version, said alike everywhere a user or Helm reads it (issue 24.2); the license as a package declares it."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
import tomllib

import pytest
import yaml
from conftest import MIGRATE, POSTRENDER, REPO

from infgw_postrender import __version__


@pytest.mark.e2e  # the installed entry points' --version
def test_every_place_says_the_same_version():
    said = {"plugin.yaml": yaml.safe_load((REPO / "plugin.yaml").read_text())["version"]}
    for chart in sorted((REPO / "charts").glob("*/Chart.yaml")):
        said[str(chart.relative_to(REPO))] = yaml.safe_load(chart.read_text())["version"]
    said["docs/gitops.md (the Flux recipe's tag)"] = re.search(
        r"tag: v(\S+)  # infgw-migrate's release", (REPO / "docs" / "gitops.md").read_text()
    ).group(1)
    for tool in (MIGRATE, POSTRENDER):
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
        said[tool.name] = re.search(r"version (\S+)", out).group(1)
    assert said == {where: __version__ for where in said}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["version"] and project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"] and "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_scripts_release_bumps_every_place_together(tmp_path, monkeypatch):
    """scripts/release X.Y.Z, run on a copy of the files it edits: each says the new version afterwards."""
    files = ["scripts/release", "infgw_postrender/__init__.py", "plugin.yaml", "docs/gitops.md", "CHANGELOG.md",
             *(str(chart.relative_to(REPO)) for chart in (REPO / "charts").glob("*/Chart.yaml"))]  # fmt: skip
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((REPO / name).read_bytes())
    monkeypatch.setattr(sys, "argv", ["scripts/release", "9.8.7"])
    runpy.run_path(str(tmp_path / "scripts" / "release"), run_name="__main__")  # in process: the fast tier
    assert '__version__ = "9.8.7"' in (tmp_path / "infgw_postrender" / "__init__.py").read_text()
    assert yaml.safe_load((tmp_path / "plugin.yaml").read_text())["version"] == "9.8.7"
    for chart in (tmp_path / "charts").glob("*/Chart.yaml"):
        assert yaml.safe_load(chart.read_text())["version"] == "9.8.7", chart
    assert "    tag: v9.8.7  # infgw-migrate's release\n" in (tmp_path / "docs" / "gitops.md").read_text()
    assert "## [Unreleased]\n\n## [9.8.7] - " in (tmp_path / "CHANGELOG.md").read_text()


def test_the_changelog_has_the_current_version(tmp_path):
    text = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text and f"## [{__version__}]" in text


@pytest.mark.e2e  # python -m build, then a fresh virtual environment
def test_the_wheel_and_sdist_hold_what_a_user_runs(tmp_path, repo_copy):
    """Issue 24.8: `python -m build` makes a wheel with the package, its data (mapping.yaml, rbac.yaml, the Helm 4
    post-renderer plugin) and the LICENSE, and an sdist with the companion chart besides; the wheel, installed
    into a fresh virtual environment, runs both console scripts."""
    import shutil
    import sys
    import tarfile
    import zipfile

    source = shutil.copytree(repo_copy, tmp_path / "source")  # a build writes egg-info beside the sources
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = (tmp_path / "dist").glob("*.whl")
    [sdist] = (tmp_path / "dist").glob("*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    for wanted in ("infgw_postrender/api/mapping.yaml", "infgw_postrender/cluster/rbac.yaml",
                   "infgw_postrender/helm_plugin/helm4-postrenderer/plugin.yaml", "infgw_postrender/cli/main.py"):  # fmt: skip
        assert wanted in names, wanted
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    members = tarfile.open(sdist).getnames()
    root = members[0].split("/")[0]
    for wanted in ("LICENSE", "charts/infgw-migration/Chart.yaml", "plugin.yaml", "infgw_postrender/api/mapping.yaml"):
        assert f"{root}/{wanted}" in members, wanted
    venv = tmp_path / "venv"  # as the plugin's install hook makes it: no pip of its own, the suite's pip installs
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                                str(wheel)], capture_output=True, text=True)  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    for tool in ("infgw-migrate", "infgw-postrender"):
        out = subprocess.run([str(venv / "bin" / tool), "--version"], capture_output=True, text=True, check=True).stdout
        assert __version__ in out

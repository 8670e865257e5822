"""One version, said alike everywhere a user or Helm reads it (issue 24.2); the license as a package declares it."""

from __future__ import annotations

import re
import subprocess
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
    for tool in (MIGRATE, POSTRENDER):
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, check=True).stdout
        said[tool.name] = re.search(r"version (\S+)", out).group(1)
    assert said == {where: __version__ for where in said}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["version"] and project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"] and "Apache License" in (REPO / "LICENSE").read_text()[:200]
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_changelog_has_the_current_version(tmp_path):
    text = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in text and f"## [{__version__}]" in text

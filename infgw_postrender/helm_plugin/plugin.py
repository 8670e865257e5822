"""Wiring the post-renderer into the running Helm: a plugin on Helm 4, a path on Helm 3."""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from infgw_postrender.cluster.helm import Helm, HelmError

PLUGIN_NAME = "infgw-postrender"


@dataclass
class Wiring:
    helm_major: int
    post_renderer: str  # what to pass to --post-renderer
    installed_plugin: Path | None  # the Helm 4 plugin folder, when one was installed


def executable() -> Path:
    """The `infgw-postrender` beside this interpreter (the plugin's or the user's virtual environment)."""
    beside = Path(sys.executable).parent / PLUGIN_NAME
    if beside.exists():
        return beside.resolve()
    found = shutil.which(PLUGIN_NAME)
    return Path(found).resolve() if found else beside


def ensure(helm: Helm) -> Wiring:
    """The wiring, installing the Helm 4 plugin only when it is not there yet."""
    major = helm.major()
    if major >= 4 and PLUGIN_NAME in helm.plugin_names():
        return Wiring(major, PLUGIN_NAME, None)
    return install(helm, major)


def install(helm: Helm, major: int | None = None) -> Wiring:
    """On Helm 4 install (or refresh) the postrenderer/v1 plugin; on Helm 3 install nothing."""
    major = major or helm.major()
    if major < 4:
        return Wiring(major, str(executable()), None)
    folder = Path(helm.env()["HELM_DATA_HOME"]) / "infgw-migrate" / PLUGIN_NAME
    folder.mkdir(parents=True, exist_ok=True)
    source = resources.files(__package__).joinpath("helm4-postrenderer", "plugin.yaml")
    (folder / "plugin.yaml").write_text(source.read_text())
    wrapper = folder / PLUGIN_NAME
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m infgw_postrender "$@"\n')
    wrapper.chmod(0o755)
    if PLUGIN_NAME in helm.plugin_names():
        helm.run("plugin", "uninstall", PLUGIN_NAME)
    helm.run("plugin", "install", str(folder))
    if PLUGIN_NAME not in helm.plugin_names():  # e.g. installed where this Helm does not look for plugins
        plugins = helm.env().get("HELM_PLUGINS", "?")
        raise HelmError(
            f"helm ({helm.binary}) installed the post-renderer plugin but does not list it (its plugins "
            f"folder: {plugins}); run `helm plugin list` and `helm env`, then install-postrenderer again"
        )
    return Wiring(major, PLUGIN_NAME, folder)

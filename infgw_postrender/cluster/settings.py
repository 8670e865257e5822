"""A migration's settings (what its flags and the cluster gave) and its steps as data: each the argv of a command a
person could type, and how the cluster shows it done."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from infgw_postrender.api.releases import Target, parse_target
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.cluster.state import StateKey, state_key

RUN = "run"  # the run's own state file: what prepare read from the alpha stack, for when that stack is gone


@dataclass
class Settings:
    namespace: str
    kube_context: str | None
    path: str  # simple | zero-downtime
    alpha_pool: str
    ga_release: str
    chart: str
    chart_version: str
    target_version: str  # the chart's release as a target (releases.chart_target): what the CRD step installs
    route: str
    gateway: str
    stages: list[int] = field(default_factory=list)
    chart_values: list[str] = field(default_factory=list)
    crd_source: str | None = None
    model: str | None = None  # for verify; None: a model of the alpha pool
    verify_url: str | None = None
    state_dir: str = "."  # where the models export and the backup are written
    delete_crds: bool = False  # zero-downtime: delete the v1alpha2 CRDs at the end
    analysis: list[str] = field(default_factory=list)  # each traffic stage's checks, as shift --analysis takes them
    notes: list[str] = field(default_factory=list)  # what prepare derived, for the plan
    installs: list[str] = field(default_factory=list)  # releases this migration installs itself (the run state)
    recover: str | None = None  # a release of `installs` left half-installed, with no traffic: uninstalled first
    accepted_classes: list[str] = field(default_factory=list)  # --accept-gateway-class: controllers vouched for
    # the cluster the state files are keyed by (its identity is read when a file is first named); None: no cluster
    kubectl: Kubectl | None = field(default=None, repr=False, compare=False)
    command: str = ""  # this migrate command, with the stages that go to the end (go_on_command)

    @property
    def target(self) -> Target:
        return parse_target(self.target_version)

    @property
    def key(self) -> StateKey:
        return state_key(self.kubectl, self.namespace, self.alpha_pool)

    @property
    def models_file(self) -> str:
        return str(self.key.path(self.state_dir, "models"))

    @property
    def backup_file(self) -> str:
        return str(self.key.path(self.state_dir, "backup"))

    @property
    def run_file(self) -> str:
        return str(self.key.path(self.state_dir, RUN))


@dataclass
class Step:
    key: str
    title: str
    argv: list[str]
    # Whether the cluster shows the step done; None: always run. After its command exits 0 it is asked again:
    # the cluster, not an exit status, says a step is done (Helm 4 exits 0 when it fails to write its record).
    done: Callable[[], bool] | None = field(repr=False, default=None)
    stop_before: bool = False  # a traffic stage nobody asked for: migrate stops and says what is next
    check: bool = False  # changes nothing (its output is not needed): its stdout is discarded

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def own_command() -> list[str]:
    """How a person calls this tool here: through Helm when Helm started it as a plugin."""
    return ["helm", "infgw-migrate"] if os.environ.get("HELM_PLUGIN_NAME") else ["infgw-migrate"]

"""The guide's two paths as ordered steps. Each step is the argv of a command a person could type (this tool's
own, kubectl or helm): `plan` prints exactly it and `migrate` runs exactly it. Each step also knows, from the
cluster alone, whether it is done, so that after a failure the same command goes on from where the cluster is.

Before any step, `prepare` reads what can be checked (read-only): the alpha pool's selector and port (the GA
pool must select the same pods), the provider, and Helm operations left pending."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field, replace
from typing import Callable

from infgw_postrender.cluster.backends import ga_share
from infgw_postrender.errors import InputError, MigrateError, Refused
from infgw_postrender.cluster.helm import Helm, context_args
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.api.mapping import api
from infgw_postrender.api.releases import Target, parse_target
from infgw_postrender.cluster.state import StateKey

_PROVIDER_VALUE = "provider.name"  # the same in the inferencepool and llm-d-router-gateway charts
_PENDING = {"pending-install": "helm uninstall {release} -n {namespace}",
            "pending-upgrade": "helm rollback {release} -n {namespace}",
            "pending-rollback": "helm rollback {release} -n {namespace}"}


@dataclass
class Settings:
    namespace: str
    kube_context: str | None
    context: str  # the context in force (kube_context, else the kubeconfig's current one): part of the state key
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

    @property
    def target(self) -> Target:
        return parse_target(self.target_version)

    @property
    def key(self) -> StateKey:
        return StateKey(self.context, self.namespace, self.alpha_pool)

    @property
    def models_file(self) -> str:
        return str(self.key.path(self.state_dir, "models"))

    @property
    def backup_file(self) -> str:
        return str(self.key.path(self.state_dir, "backup"))


@dataclass
class Step:
    key: str
    title: str
    argv: list[str]
    done: Callable[[], bool] = field(repr=False, default=lambda: False)
    stop_before: bool = False  # a traffic stage nobody asked for: migrate stops and says what is next
    check: bool = False  # changes nothing (its output is not needed): its stdout is discarded

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def own_command() -> list[str]:
    """How a person calls this tool here: through Helm when Helm started it as a plugin."""
    return ["helm", "infgw-migrate"] if os.environ.get("HELM_PLUGIN_NAME") else ["infgw-migrate"]


# -- prepare: what can be checked before anything changes -------------------------------------------------------
def prepare(settings: Settings, pool: dict | None, server_version: str | None, alpha_values: dict | None,
            statuses: dict[str, str | None], models: list[dict]) -> Settings:
    """Settings completed from the cluster: the GA chart selects the alpha pool's pods on its port (taken from
    the alpha pool unless given, refused when given otherwise), provider.name=gke on GKE, and the verify model.
    Refused while a Helm operation is pending on either release."""
    for release, status in statuses.items():
        if status in _PENDING:
            command = _PENDING[status].format(release=release, namespace=settings.namespace)
            raise Refused(f"Helm release {settings.namespace}/{release} is {status} (an operation stopped half-way); "
                          f"run `{command}`, then the same command again; nothing changed")
    values, notes = list(settings.chart_values), []
    given = dict(value.split("=", 1) for value in values if "=" in value)
    selector_value, port_value = settings.target.chart.selector_value, settings.target.chart.port_value
    if pool is not None:
        selector = {str(k): str(v) for k, v in ((pool.get("spec") or {}).get("selector") or {}).items()}
        asked = {k[len(selector_value):]: v for k, v in given.items() if k.startswith(selector_value)}
        if asked and asked != selector:
            raise InputError(f"--set {selector_value}...: {asked} differs from the alpha pool's selector {selector}; "
                             "the GA pool must select the same pods (leave it out to take the alpha pool's)")
        if not asked:
            values += [f"{selector_value}{k}={v}" for k, v in sorted(selector.items())]
            notes.append(f"selector {selector} taken from the alpha pool {settings.alpha_pool}")
        port = (pool.get("spec") or {}).get("targetPortNumber")
        if port is not None and port_value in given and str(given[port_value]) != str(port):
            raise InputError(f"--set {port_value}={given[port_value]}: the alpha pool's target port is {port}; "
                             "the GA pool must serve the same pods on the same port")
        if port is not None and port_value not in given:
            values.append(f"{port_value}={port}")
            notes.append(f"target port {port} taken from the alpha pool")
    elif not any(k.startswith(selector_value) for k in given) and statuses.get(settings.ga_release) != "deployed":
        raise InputError(f"--alpha-pool {settings.alpha_pool}: no such v1alpha2 InferencePool in {settings.namespace} "
                         f"to take the selector from; pass --set {selector_value}KEY=VALUE")
    if _PROVIDER_VALUE not in given:
        alpha_provider = ((alpha_values or {}).get("provider") or {}).get("name")
        if (server_version and "-gke." in server_version) or str(alpha_provider).lower() == "gke":
            values.append(f"{_PROVIDER_VALUE}=gke")
            why = "the alpha release sets it" if str(alpha_provider).lower() == "gke" else "the cluster is GKE"
            notes.append(f"provider.name=gke ({why}): the GA pool gets its HealthCheckPolicy and GCPBackendPolicy")
    model = settings.model
    if model is None:
        names = [(m.get("spec") or {}).get("modelName") for m in models]
        model = next((name for name in names if name), None)
        if model is None:
            raise InputError(f"--alpha-pool {settings.alpha_pool}: no InferenceModel to take the verify model from; "
                             "pass --model")
        notes.append(f"verify asks for {model}, a model of the alpha pool")
    return replace(settings, chart_values=values, model=model, notes=settings.notes + notes)


def read_and_prepare(settings: Settings, kubectl: Kubectl, helm: Helm) -> Settings:
    """prepare, with what it needs read from the cluster (read-only)."""
    try:
        return _read_and_prepare(settings, kubectl, helm)
    except MigrateError as error:
        raise type(error)(f"before any step (reading the cluster): {error}") from None


def _read_and_prepare(settings: Settings, kubectl: Kubectl, helm: Helm) -> Settings:
    from infgw_postrender.cluster.cleanup import MODELS, pool_models
    from infgw_postrender.cluster.state import read_items

    resources = api().cluster.resources
    pool = kubectl.find(resources.alpha_pool, settings.alpha_pool, settings.namespace,
                        f"read the alpha pool {settings.namespace}/{settings.alpha_pool}")
    statuses = {release: helm.release_status(release, settings.namespace, settings.kube_context)
                for release in dict.fromkeys([settings.alpha_pool, settings.ga_release])}
    values = None
    if statuses.get(settings.alpha_pool) is not None:
        done = helm.run("get", "values", settings.alpha_pool, "-n", settings.namespace, "-o", "json",
                        *context_args(settings.kube_context), check=False)
        values = _json(done.stdout) if done.returncode == 0 else None
    models = [] if settings.model else pool_models(kubectl, settings.alpha_pool, settings.namespace)
    if not models and not settings.model:
        models = read_items(settings.models_file, settings.key, MODELS, "--state-dir") or []
    return prepare(settings, pool, kubectl.server_version(), values, statuses, models)


def _json(text: str) -> dict | None:
    import json

    try:
        found = json.loads(text or "null")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


# -- the steps ------------------------------------------------------------------------------------------------
def steps(settings: Settings, kubectl: Kubectl | None = None, helm: Helm | None = None) -> list[Step]:
    """The steps for this path; without kubectl/helm their `done` cannot be asked (plan)."""
    kubectl = kubectl or Kubectl.from_options(settings.kube_context, settings.namespace)
    helm = helm or Helm.from_env()
    make = _Steps(settings, kubectl, helm)
    if settings.path == "simple":
        return [make.backup(), make.chart_check(), make.crds(check=True), make.remove_alpha(), make.crds(),
                make.ga_release(), make.stage(100, asked=True), make.verify()]
    stages = settings.stages or [0, 50, 100]
    result = [make.backup(), make.chart_check(), make.crds(), make.ga_release()]
    checked_programmed = False
    for weight in stages:
        result.append(make.stage(weight, asked=bool(settings.stages)))
        if 0 < weight < 100 and not checked_programmed:  # the guide checks the Gateway after the split
            result.append(make.programmed(weight))
            checked_programmed = True
    if stages[-1] == 100:
        result += [make.verify(), make.remove_alpha()]
    return result


class StepFailed(MigrateError):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def run_steps(found: list[Step], progress: Callable[[str], None]) -> None:
    """Each step not done yet, in order, as its argv. A refusal (exit 3) counts as one only when nothing had
    changed before it in this run; after a change it is a failure (exit 1)."""
    changed = False
    for number, step in enumerate(found, 1):
        label = f"step {number} ({step.title})"
        try:
            done = step.done()
        except MigrateError as error:
            raise type(error)(f"{label}: {error}; fix it and run the same command again") from None
        if done:
            progress(f"step {number} done already: {step.title}")
            continue
        if step.stop_before:
            progress(f"stopped before step {number}: {step.title}")
            progress(f"run it with --stages, or by hand: {step.command}")
            return
        progress(f"step {number}: {step.title}")
        progress(f"+ {step.command}")
        try:
            code, error = execute(step)
        except KeyboardInterrupt:
            raise StepFailed(f"interrupted during {label}; the cluster is as that step left it: run the same "
                             "command again to resume", 130) from None
        if code != 0:
            exit_code = 1 if code == Refused.exit_code and changed else code
            raise StepFailed(f"{label}: {error or f'exit status {code}'}; fix it and run the same command again",
                             exit_code)
        changed = changed or not step.check
    progress("all steps done")


def execute(step: Step) -> tuple[int, str | None]:
    """Run the step's argv (this tool's own commands with this interpreter), its stderr shown as it comes;
    (exit status, its last `Error: ` line)."""
    own = own_command()
    if step.argv[:len(own)] == own:
        argv = [sys.executable, "-m", "infgw_postrender.cli", *step.argv[len(own):]]
    elif step.argv[0] == "helm":
        argv = [Helm.from_env().binary, *step.argv[1:]]
    else:
        argv = [os.environ.get("KUBECTL") or step.argv[0], *step.argv[1:]]
    sys.stdout.flush()
    try:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL if step.check else None, stderr=subprocess.PIPE,
                                 text=True)
    except OSError as exc:
        return 127, f"cannot run {argv[0]} ({exc.strerror})"
    error = None
    try:
        for line in child.stderr:
            sys.stderr.write(line)
            sys.stderr.flush()
            if line.startswith("Error: ") or line.startswith("error: "):
                error = line.strip().split(": ", 1)[1]
        return child.wait(), error
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        child.wait()
        raise


class _Steps:
    def __init__(self, settings: Settings, kubectl: Kubectl, helm: Helm) -> None:
        self.s, self.kubectl, self.helm = settings, kubectl, helm
        self.resources = api().cluster.resources

    def _own(self, *args: str) -> list[str]:
        return [*own_command(), *args, "-n", self.s.namespace, *context_args(self.s.kube_context)]

    # -- reading the cluster --------------------------------------------------------------------------------
    def _exists(self, resource: str, name: str) -> bool:
        return self.kubectl.find(resource, name, self.s.namespace, f"read {resource} {name}") is not None

    def _ga_deployed(self) -> bool:
        """Deployed, and its pool is there (on the simple path the alpha release had the same name)."""
        status = self.helm.release_status(self.s.ga_release, self.s.namespace, self.s.kube_context)
        return status == "deployed" and self._exists(self.resources.ga_pool, self.s.ga_release)

    def _share(self) -> int | None:
        route = self.kubectl.find(self.resources.route, self.s.route, self.s.namespace,
                                  f"read HTTPRoute {self.s.namespace}/{self.s.route}")
        if route is None:
            return None
        return ga_share(route["spec"].get("rules") or [], self.s.alpha_pool, self.s.ga_release)

    def _alpha_gone(self) -> bool:
        from infgw_postrender.cluster.cleanup import pool_models

        if self._exists(self.resources.alpha_pool, self.s.alpha_pool):
            return False
        if pool_models(self.kubectl, self.s.alpha_pool, self.s.namespace):
            return False
        status = self.helm.status(self.s.alpha_pool, self.s.namespace, self.s.kube_context)
        # on the simple path the GA release takes the alpha release's name: a release whose pool is GA is not alpha
        return status is None or self._exists(self.resources.ga_pool, self.s.alpha_pool)

    def _alpha_crds_gone(self) -> bool:
        present = {crd["metadata"]["name"] for crd in self.kubectl.crds()}
        return not present & set(api().cluster.alpha_crd_names)

    # -- the steps ------------------------------------------------------------------------------------------
    def backup(self) -> Step:
        argv = self._own("backup", "--alpha-pool", self.s.alpha_pool, "--route", self.s.route,
                         "--file", self.s.backup_file, "--models", self.s.models_file)
        return Step("backup", "back up the alpha stack and the route, and export the alpha pool's InferenceModels",
                    argv)

    def _renderer_args(self) -> list[str]:
        args = [f"--objectives-from={self.s.models_file}", f"--target-version={self.s.target_version}"]
        if self.s.path == "zero-downtime":
            args.append(f"--alpha-pool={self.s.alpha_pool}")
        return args

    def _values(self) -> list[str]:
        return [arg for value in self.s.chart_values for arg in ("--set", value)]

    def chart_check(self) -> Step:
        argv = [*own_command(), "template", self.s.ga_release, self.s.chart, "-n", self.s.namespace,
                "--version", self.s.chart_version, *self._values(), *self._renderer_args()]
        return Step("check-chart", f"check that chart {self.s.chart_version} renders through the post-renderer "
                    "(output discarded)", argv, self._ga_deployed, check=True)

    def crds(self, check: bool = False) -> Step:
        from infgw_postrender.cluster.crds import needed

        source = ["--source", self.s.crd_source] if self.s.crd_source else []
        argv = [*own_command(), "crds", "--apply", *(["--dry-run"] if check else []),
                "--target-version", self.s.target_version, *source, *context_args(self.s.kube_context)]
        if check:
            return Step("check-crds", "check that the GA CRD files download and match their pins (server dry run)",
                        argv, lambda: self._alpha_gone() or not needed(self.kubectl, self.s.target_version), check=True)
        return Step("crds", "install the GA CRDs the cluster lacks", argv,
                    lambda: not needed(self.kubectl, self.s.target_version))

    def ga_release(self) -> Step:
        argv = [*own_command(), "upgrade", self.s.ga_release, self.s.chart, "--install", "-n", self.s.namespace,
                "--version", self.s.chart_version, *self._values(), *context_args(self.s.kube_context),
                *self._renderer_args()]
        return Step("ga-release", f"install the GA release {self.s.ga_release} with the objectives of the alpha models",
                    argv, self._ga_deployed)

    def stage(self, weight: int, asked: bool) -> Step:
        simple = self.s.path == "simple"
        checks = self.s.analysis if weight > 0 else []  # at 0 no traffic reaches the GA pool: nothing to measure
        argv = self._own("shift", "--route", self.s.route, "--alpha-pool", self.s.alpha_pool,
                         "--ga-pool", self.s.ga_release, "--ga-weight", str(weight), "--wait",
                         *(["--force"] if simple else []), *checks)

        def done() -> bool:
            share = self._share()
            return share is not None and share >= weight  # migrate only moves toward GA: past this stage is done

        title = f"send {weight}% of {self.s.route} to the GA pool {self.s.ga_release}"
        if checks:
            title += ", probe it and go back to the previous stage if the probe fails"
        return Step(f"stage-{weight}", title, argv, done, stop_before=not asked)

    def programmed(self, weight: int) -> Step:
        gateway_namespace, _, gateway = self.s.gateway.rpartition("/")
        argv = ["kubectl", "wait", "--for=condition=Programmed", f"gateway/{gateway}",
                "-n", gateway_namespace or self.s.namespace, "--timeout=300s",
                *([f"--context={self.s.kube_context}"] if self.s.kube_context else [])]

        def done() -> bool:
            share = self._share()
            return share is not None and share > weight

        return Step("programmed", f"check that Gateway {gateway} is PROGRAMMED with the split", argv, done, check=True)

    def verify(self) -> Step:
        url = ["--url", self.s.verify_url] if self.s.verify_url else []
        argv = self._own("verify", "--gateway", self.s.gateway, "--model", self.s.model or "", *url)
        return Step("verify", f"check that Gateway {self.s.gateway} answers a completion for {self.s.model}", argv,
                    check=True)

    def remove_alpha(self) -> Step:
        if self.s.path == "simple":
            argv = self._own("cleanup", "--alpha-pool", self.s.alpha_pool, "--backup", self.s.backup_file,
                             "--with-downtime", "--delete-unused-crds")
            return Step("remove-alpha", f"remove the alpha stack of {self.s.alpha_pool} and the unused v1alpha2 "
                        "CRDs (the outage starts here)", argv, self._alpha_gone)
        argv = self._own("cleanup", "--alpha-pool", self.s.alpha_pool, "--ga-pool", self.s.ga_release,
                         "--backup", self.s.backup_file, *(["--delete-crds"] if self.s.delete_crds else []))
        title = f"remove the alpha stack of {self.s.alpha_pool}" + (" and the v1alpha2 CRDs" if self.s.delete_crds else "")
        return Step("remove-alpha", title, argv,
                    lambda: self._alpha_gone() and (not self.s.delete_crds or self._alpha_crds_gone()))


def describe_crds(findings, target_version: str) -> str:
    """What the CRD step will install on this cluster, when its version is known."""
    from infgw_postrender.cluster.crds import decide

    if not findings.server_version:
        return "decided from the cluster when it runs"
    installed = {c["name"]: c["owner"] for c in findings.crds} if findings.crds else None
    decision = decide(findings.server_version, installed, target_version)
    return "; ".join(decision.reasons) + f" ({', '.join(f.name for f in decision.files) or 'nothing'})"


"""The guide's two paths as ordered steps. Each step is the argv of a command a person could type (this tool's
own, kubectl or helm): `plan` prints exactly it and `migrate` runs exactly it. Each step also knows, from the
cluster alone, whether it is done, so that after a failure the same command goes on from where the cluster is.

Before any step, `prepare` reads what can be checked (read-only): the alpha pool's selector and port (the GA
pool must select the same pods), the provider, and Helm operations left pending."""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from infgw_postrender.api.mapping import api
from infgw_postrender.api.releases import Target, parse_target
from infgw_postrender.cluster.analysis import last_analysis
from infgw_postrender.cluster.backends import ga_share
from infgw_postrender.cluster.gateways import check_gateway_class
from infgw_postrender.cluster.helm import Helm, context_args
from infgw_postrender.cluster.kube import Kubectl, kubeconfig_args
from infgw_postrender.cluster.processes import error_line, run_child, stderr_watched, stdout_discarded
from infgw_postrender.cluster.state import StateKey, read_items, state_key, write_items
from infgw_postrender.errors import InputError, MigrateError, Refused

_PROVIDER_VALUE = "provider.name"  # the same in the inferencepool and llm-d-router-gateway charts
_PENDING = {
    "pending-install": "helm uninstall {release} -n {namespace}",
    "pending-upgrade": "helm rollback {release} -n {namespace}",
    "pending-rollback": "helm rollback {release} -n {namespace}",
}
# A first install that never finished: safe to uninstall and install again while no traffic reaches it
_HALF_INSTALLED = ("pending-install", "failed")
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


# -- prepare: what can be checked before anything changes -------------------------------------------------------
def prepare(
    settings: Settings,
    pool: dict | None,
    server_version: str | None,
    alpha_values: dict | None,
    statuses: dict[str, str | None],
    models: list[dict],
    saved: dict | None = None,
    ga_half_installed: bool = False,
    route_ga_share: int | None = None,
    gke_missing: Callable[[tuple[str, ...]], list[str]] = lambda crds: [],
) -> Settings:
    """Settings completed from the cluster: the GA chart selects the alpha pool's pods on its port (taken from
    the alpha pool unless given, refused when given otherwise), provider.name=gke on GKE, and the verify model.
    Once the alpha pool is gone (the simple path removes it before installing the GA release), they come from
    the run's own state (`saved`), written before the first step. Refused while a Helm operation is pending on
    either release, except a first install of a release this migration installs itself, left half-done with no
    traffic on it (`ga_half_installed`, `route_ga_share`): that one is uninstalled and installed again.
    provider.name=gke is set only where the cluster serves the CRDs the chart then renders (`gke_missing`: those
    of these it lacks); otherwise the choice is the user's, named before anything changes."""
    installs = list((saved or {}).get("installs") or settings.installs)
    if settings.ga_release not in installs and (settings.path == "simple" or statuses.get(settings.ga_release) is None):
        installs.append(
            settings.ga_release
        )  # the simple path's GA release takes the alpha one's name after removing it
    recover, notes = None, []
    for release, status in statuses.items():
        if (
            release == settings.ga_release
            and release in installs
            and ga_half_installed
            and not route_ga_share
            and status in _HALF_INSTALLED
        ):
            recover = release
            notes.append(
                f"Helm release {release} is {status}: this migration began installing it and no traffic "
                "reaches it, so it is uninstalled and installed again"
            )
            continue
        if status in _PENDING:
            command = _PENDING[status].format(release=release, namespace=settings.namespace)
            raise Refused(
                f"Helm release {settings.namespace}/{release} is {status} (an operation stopped half-way); "
                f"run `{command}`, then the same command again; nothing changed"
            )
    values = list(settings.chart_values)
    given = dict(value.split("=", 1) for value in values if "=" in value)
    selector_value, port_value = settings.target.chart.selector_value, settings.target.chart.port_value
    if pool is None and saved is not None:
        values += [value for value in saved.get("chartValues") or [] if value not in values]
        notes.append(
            f"the alpha pool {settings.alpha_pool} is gone: its selector, port and the chart values come "
            f"from this migration's state file {settings.run_file}"
        )
        given = dict(value.split("=", 1) for value in values if "=" in value)
        settings = replace(settings, model=settings.model or saved.get("model"))
    elif pool is not None:
        selector = {str(k): str(v) for k, v in ((pool.get("spec") or {}).get("selector") or {}).items()}
        asked = {k[len(selector_value) :]: v for k, v in given.items() if k.startswith(selector_value)}
        if asked and asked != selector:
            raise InputError(
                f"--set {selector_value}...: {_labels(asked)} differs from the alpha pool's selector "
                f"{_labels(selector)}; the GA pool must select the same pods (leave it out to take the "
                "alpha pool's)"
            )
        if not asked:
            values += [f"{selector_value}{k}={v}" for k, v in sorted(selector.items())]
            notes.append(f"selector {_labels(selector)} taken from the alpha pool {settings.alpha_pool}")
        port = (pool.get("spec") or {}).get("targetPortNumber")
        if port is not None and port_value in given and str(given[port_value]) != str(port):
            raise InputError(
                f"--set {port_value}={given[port_value]}: the alpha pool's target port is {port}; "
                "the GA pool must serve the same pods on the same port"
            )
        if port is not None and port_value not in given:
            values.append(f"{port_value}={port}")
            notes.append(f"target port {port} taken from the alpha pool")
    elif not any(k.startswith(selector_value) for k in given) and statuses.get(settings.ga_release) != "deployed":
        raise InputError(
            f"--alpha-pool {settings.alpha_pool}: no such v1alpha2 InferencePool in {settings.namespace} "
            f"to take the selector from, and no state file of this migration ({settings.run_file}); "
            f"pass --set {selector_value}KEY=VALUE"
        )
    if _PROVIDER_VALUE not in given:
        alpha_provider = ((alpha_values or {}).get("provider") or {}).get("name")
        if (server_version and "-gke." in server_version) or str(alpha_provider).lower() == "gke":
            why = "the alpha release sets it" if str(alpha_provider).lower() == "gke" else "the cluster is GKE"
            lacked = gke_missing(settings.target.gke_crds)
            if lacked:
                raise InputError(
                    f"provider.name=gke ({why}): chart {settings.chart_version} then renders objects of "
                    f"{', '.join(lacked)}, which this cluster does not serve; pass --set {_PROVIDER_VALUE}=none, or "
                    "install those CRDs; nothing was changed"
                )
            values.append(f"{_PROVIDER_VALUE}=gke")
            notes.append(f"provider.name=gke ({why}): the GA pool gets its HealthCheckPolicy and GCPBackendPolicy")
    model = settings.model
    if model is None:
        names = [(m.get("spec") or {}).get("modelName") for m in models]
        model = next((name for name in names if name), None)
        if model is None:
            raise InputError(
                f"--alpha-pool {settings.alpha_pool}: no InferenceModel to take the verify model from; pass --model"
            )
        notes.append(f"verify asks for {model}, a model of the alpha pool")
    return replace(
        settings, chart_values=values, model=model, notes=settings.notes + notes, installs=installs, recover=recover
    )


def _labels(labels: dict) -> str:
    """A selector as people write it: app=vllm,tier=gpu."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items())) or "(none)"


def save_run(settings: Settings) -> None:
    """Before the first step: what the run needs once the alpha stack is gone (the GA chart's values, with the
    alpha pool's selector and port, and the verify model) and the releases it installs itself."""
    write_items(
        settings.run_file,
        settings.key,
        RUN,
        [
            {
                "apiVersion": "infgw-migrate.io/v1",
                "kind": "MigrationRun",
                "path": settings.path,
                "chartValues": settings.chart_values,
                "model": settings.model,
                "installs": settings.installs,
                "command": settings.command,  # `status` prints it as the way on
            }
        ],
        "--state-dir",
    )


def read_and_prepare(settings: Settings, kubectl: Kubectl, helm: Helm) -> Settings:
    """prepare, with what it needs read from the cluster (read-only)."""
    try:
        return _read_and_prepare(settings, kubectl, helm)
    except MigrateError as error:
        raise type(error)(f"before any step (reading the cluster): {error}") from None


def _read_and_prepare(settings: Settings, kubectl: Kubectl, helm: Helm) -> Settings:
    from infgw_postrender.cluster.cleanup import MODELS, pool_models

    resources = api().cluster.resources
    pool = kubectl.find(
        resources.alpha_pool,
        settings.alpha_pool,
        settings.namespace,
        f"read the alpha pool {settings.namespace}/{settings.alpha_pool}",
    )
    saved = read_items(settings.run_file, settings.key, RUN, "--state-dir")
    found = {
        release: helm.status(release, settings.namespace, settings.kube_context)
        for release in dict.fromkeys([settings.alpha_pool, settings.ga_release])
    }
    statuses = {
        release: ((status or {}).get("info") or {}).get("status") if status else None
        for release, status in found.items()
    }
    ga = found[settings.ga_release] or {}
    half_installed = ga.get("version") == 1 and statuses[settings.ga_release] in _HALF_INSTALLED
    values = None
    if statuses.get(settings.alpha_pool) is not None and pool is not None:
        done = helm.run(
            "get",
            "values",
            settings.alpha_pool,
            "-n",
            settings.namespace,
            "-o",
            "json",
            *context_args(settings.kube_context),
            check=False,
        )
        values = _json(done.stdout) if done.returncode == 0 else None
    models = [] if settings.model else pool_models(kubectl, settings.alpha_pool, settings.namespace)
    if not models and not settings.model:
        models = read_items(settings.models_file, settings.key, MODELS, "--state-dir") or []
    if pool is None and saved is None and statuses[settings.ga_release] is None:
        # nothing of this migration is here (no alpha pool, no state of a run, no GA release): a typo'd pool or -n
        raise InputError(
            f"--alpha-pool {settings.alpha_pool}: no such v1alpha2 InferencePool in {settings.namespace} "
            f"(found: {', '.join(alpha_pools(kubectl, settings.namespace)) or 'none'}); nothing was changed"
        )
    share = route_share(kubectl, settings) if half_installed else None
    prepared = prepare(settings, pool, kubectl.server_version(), values, statuses, models, saved[0] if saved else None,
                       half_installed, share, lambda crds: unserved_crds(kubectl, crds))  # fmt: skip
    # before any step: a Gateway whose controller may not serve v1 pools is refused here (gateways.py)
    served = check_gateway_class(kubectl, settings.gateway, settings.namespace, tuple(settings.accepted_classes))
    return replace(prepared, notes=[*prepared.notes, served])


def unserved_crds(kubectl: Kubectl, names: tuple[str, ...]) -> list[str]:
    """Those of these CRDs the cluster lacks, in one read."""
    from infgw_postrender.cluster.kube import references

    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}
    listed = references([{**crd, "metadata": {"name": name}} for name in names])
    served = {obj["metadata"]["name"] for obj in kubectl.get_listed(listed, "read the CRDs the chart needs")}
    return [name for name in names if name not in served]


def alpha_gone(kubectl: Kubectl, helm: Helm, namespace: str, alpha_pool: str) -> bool:
    """No alpha pool of that name, none of its InferenceModels, and no alpha Helm release: what the backup step
    and the removal of the alpha stack are judged done by, and `status` calls finished (with all traffic on GA)."""
    from infgw_postrender.cluster.cleanup import pool_models

    resources = api().cluster.resources
    if kubectl.find(resources.alpha_pool, alpha_pool, namespace, f"read the alpha pool {namespace}/{alpha_pool}"):
        return False
    if pool_models(kubectl, alpha_pool, namespace):
        return False
    status = helm.status(alpha_pool, namespace, kubectl.context)
    # on the simple path the GA release takes the alpha release's name: a release whose pool is GA is not alpha
    ga = kubectl.find(resources.ga_pool, alpha_pool, namespace, f"read the GA pool {namespace}/{alpha_pool}")
    return status is None or ga is not None


def alpha_pools(kubectl: Kubectl, namespace: str) -> list[str]:
    """The names of the v1alpha2 InferencePools in the namespace (none once the alpha CRDs are gone)."""
    from infgw_postrender.cluster.kube import NotFound

    try:
        pools = kubectl.get([api().cluster.resources.alpha_pool], f"list the alpha pools of {namespace}", namespace)
    except NotFound:
        return []
    return sorted(pool["metadata"]["name"] for pool in pools)


def route_share(kubectl: Kubectl, settings: Settings) -> int | None:
    """The GA pool's share of the migration's route, as the cluster has it; None without the route or the pool."""
    return _share(_route(kubectl, settings), settings)


def stage_outcome(kubectl: Kubectl, settings: Settings, weight: int, since: str) -> dict:
    """After a traffic stage, from one read of the route: the GA share it has now, and the stage's analysis when
    this run noted one on it (at or after `since`, an ISO time in UTC)."""
    route = _route(kubectl, settings)
    note = last_analysis(route) if route else None
    fresh = note is not None and note.get("weight") == weight and str(note.get("at", "")) >= since
    return {"ga_weight": _share(route, settings), "analysis": note if fresh else None}


def _route(kubectl: Kubectl, settings: Settings) -> dict | None:
    where = f"read HTTPRoute {settings.namespace}/{settings.route}"
    return kubectl.find(api().cluster.resources.route, settings.route, settings.namespace, where)


def _share(route: dict | None, settings: Settings) -> int | None:
    return ga_share(route["spec"].get("rules") or [], settings.alpha_pool, settings.ga_release) if route else None


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
    recover = [make.recover()] if settings.recover else []
    if settings.path == "simple":
        return [
            make.backup(),
            make.chart_check(),
            make.crds(check=True),
            make.remove_alpha(),
            make.crds(),
            *recover,
            make.ga_release(),
            make.stage(100, asked=True),
            make.verify(),
        ]
    stages = settings.stages or [0, 50, 100]
    result = [make.backup(), make.chart_check(), make.crds(), *recover, make.ga_release()]
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


def run_steps(
    found: list[Step],
    progress: Callable[[str], None],
    run_own: OwnCommand,
    before_first: Callable[[], None] = lambda: None,
    event: Callable[[dict], None] | None = None,
) -> bool:
    """Each step not done yet, in order, as its argv; False when it stopped on purpose before a traffic stage
    nobody asked for. `before_first` runs once, before the first step that runs and may change the cluster (a
    finished migration, run again, runs only its checks: it needs no permission to change anything, nor a run
    state to come back to). A refusal (exit 3) counts as one only when nothing had changed before it in this run;
    after a change it is a failure (exit 1). With `event`, each step is also told as a record (skipped, stopped,
    started, ended) and the steps' own output is discarded, for a pipeline that follows the run."""
    changed = ran = False

    def told(number: int, step: Step, what: str, **more: object) -> None:
        if event is not None:
            event({"event": what, "step": number, "key": step.key, "title": step.title, **more})

    for number, step in enumerate(found, 1):
        label = f"step {number} ({step.title})"
        if is_done(step, label):
            progress(f"step {number} done already: {step.title}")
            told(number, step, "done-already")
            continue
        if step.stop_before:
            progress(f"stopped before step {number}: {step.title}")
            progress(f"by hand, that step alone: {step.command}")
            told(number, step, "stopped", command=step.command)
            return False
        if not ran and not step.check:
            before_first()
            ran = True
        progress(f"step {number}: {step.title}")
        progress(f"+ {step.command}")
        told(number, step, "start", command=step.command)
        code, error, interrupted = execute(step, run_own, quiet=event is not None)
        told(number, step, "end", exit=130 if interrupted else code, error=error)
        if interrupted:
            raise StepFailed(
                f"interrupted during {label}; the cluster is as that step left it: run the same "
                "command again to resume",
                130,
            )
        if code != 0:
            exit_code = 1 if code == Refused.exit_code and changed else code
            raise StepFailed(
                f"{label}: {error or f'exit status {code}'}; fix it and run the same command again", exit_code
            )
        changed = changed or not step.check
        if step.done is not None and not step.check and not is_done(step, label):
            raise StepFailed(
                f"{label}: its command exited 0, but the cluster does not show the step done; run the "
                "same command again",
                1,
            )
    return True


def next_stages(settings: Settings) -> list[int] | None:
    """The stages that go on to the end when this run stops short of it (None: it goes to the end): the asked
    ones up to 100, or the guide's 0, 50, 100."""
    if settings.path == "simple":
        return None
    if not settings.stages:
        return [0, 50, 100]
    return None if settings.stages[-1] == 100 else [*settings.stages, 100]


def go_on_command(settings: Settings, argv: list[str]) -> str:
    """The same migrate command with the stages that go to the end (`argv`: this run's arguments after `migrate`;
    under Helm, -n travels as HELM_NAMESPACE, so it is written out)."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--stages":
            skip = True
        elif not arg.startswith("--stages="):
            kept.append(arg)
    if not {"-n", "--namespace"} & set(kept) and not any(a.startswith("--namespace=") for a in kept):
        kept += ["-n", settings.namespace]
    if (
        settings.kube_context
        and "--kube-context" not in kept
        and not any(a.startswith("--kube-context=") for a in kept)
    ):
        kept += ["--kube-context", settings.kube_context]  # under Helm it travels as HELM_KUBECONTEXT
    stages = ",".join(map(str, next_stages(settings) or []))
    return shlex.join([*own_command(), "migrate", *kept, *(["--stages", stages] if stages else [])])


def is_done(step: Step, label: str | None = None) -> bool:
    """Whether the cluster shows the step done (a step with no such judgement never is); a failed read says which
    step it judged."""
    label = label or step.title
    if step.done is None:
        return False
    try:
        return step.done()
    except MigrateError as error:
        raise type(error)(f"{label}: {error}; fix it and run the same command again") from None


# Runs one of this tool's own commands (its arguments, after the program's name) in this process; its exit status
OwnCommand = Callable[[list[str]], int]


def execute(step: Step, run_own: OwnCommand, quiet: bool = False) -> tuple[int, str | None, bool]:
    """Run the step: this tool's own commands in this process, by `run_own` (the same commands parse the same
    argv a shell would pass), helm and kubectl as children; stderr shown as it comes. (exit status, its last
    `Error: ` line, whether an interrupt came.) Ctrl-C reaches a child too (processes.run_child): it ends as it
    would at a terminal, and the step is reported as interrupted, whatever its own exit status."""
    own = own_command()
    errors: list[str] = []

    def seen(line: str) -> None:
        message = error_line(line)
        if message:
            errors.append(message)

    try:
        with stderr_watched(seen), stdout_discarded() if step.check or quiet else contextlib.nullcontext():
            if step.argv[: len(own)] == own:
                code = run_own(step.argv[len(own) :])
            else:
                binary = Helm.from_env().binary if step.argv[0] == "helm" else os.environ.get("KUBECTL") or "kubectl"
                try:
                    code = run_child([binary, *step.argv[1:]])
                except OSError as exc:
                    return 127, f"cannot run {binary} ({exc.strerror})", False
    except KeyboardInterrupt:
        return 130, None, True
    return code, errors[-1] if errors else None, False


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

    def _ga_released(self) -> bool:
        """The GA release deployed with its pool, and every object it generates from the alpha models (each
        InferenceObjective, each InferenceModelRewrite) there: a release whose write of one of them failed is not
        done, whatever Helm's record says (issue 31.4)."""
        from infgw_postrender.cluster.cleanup import MODELS
        from infgw_postrender.cluster.kube import references
        from infgw_postrender.postrender.objectives import from_model, parse_priority_map

        if not self._ga_deployed():
            return False
        models = read_items(self.s.models_file, self.s.key, MODELS, "--state-dir") or []
        priorities = parse_priority_map(None)
        made = [generated.obj for model in models
                for generated in from_model(model, self.s.ga_release, self.s.namespace, priorities, self.s.target)]  # fmt: skip
        if not made:
            return True
        there = self.kubectl.get_listed(references(made), "read the objectives of the GA release")
        return len({(o["kind"], o["metadata"]["name"]) for o in there}) == len(made)

    def _alpha_gone(self) -> bool:
        return alpha_gone(self.kubectl, self.helm, self.s.namespace, self.s.alpha_pool)

    def _alpha_crds_gone(self, unless_used: bool = False) -> bool:
        """No v1alpha2 CRD is left; with `unless_used` (the simple path), none that no object uses (cleanup's
        --delete-unused-crds keeps a CRD while any object of it is left, in any namespace), and none but those
        the GA bundle installed again once the GA pool CRD is there (v1.0.0's bundle holds the v1alpha2
        InferencePool CRD: the step after this one puts it back)."""
        from infgw_postrender.cluster.crds import bundle_defines
        from infgw_postrender.cluster.kube import ALL_NAMESPACES

        installed = {crd["metadata"]["name"] for crd in self.kubectl.crds()}
        present = [name for name in api().cluster.alpha_crd_names if name in installed]
        if not unless_used:
            return not present
        if self.resources.ga_pool in installed:
            present = [name for name in present if name not in bundle_defines(self.s.target)]
        return all(self.kubectl.get([name], f"list {name}", ALL_NAMESPACES) for name in present)

    # -- the steps ------------------------------------------------------------------------------------------
    def backup(self) -> Step:
        argv = self._own(
            "backup",
            "--alpha-pool",
            self.s.alpha_pool,
            "--route",
            self.s.route,
            "--file",
            self.s.backup_file,
            "--models",
            self.s.models_file,
        )
        # It changes no object in the cluster (a check, as far as the cluster goes), and it is skipped once the
        # alpha stack is gone: nothing is left to back up, and the file keeps what was (it only adds).
        return Step(
            "backup",
            "back up the alpha stack and the route, and export the alpha pool's InferenceModels",
            argv,
            self._alpha_gone,
            check=True,
        )

    def _renderer_args(self) -> list[str]:
        args = [f"--objectives-from={self.s.models_file}", f"--target-version={self.s.target_version}"]
        if self.s.path == "zero-downtime":
            args.append(f"--alpha-pool={self.s.alpha_pool}")
        return args

    def _values(self) -> list[str]:
        return [arg for value in self.s.chart_values for arg in ("--set", value)]

    def chart_check(self) -> Step:
        argv = [
            *own_command(),
            "template",
            self.s.ga_release,
            self.s.chart,
            "-n",
            self.s.namespace,
            "--version",
            self.s.chart_version,
            *self._values(),
            *self._renderer_args(),
        ]
        return Step(
            "check-chart",
            f"check that chart {self.s.chart_version} renders through the post-renderer (output discarded)",
            argv,
            self._ga_deployed,
            check=True,
        )

    def crds(self, check: bool = False) -> Step:
        from infgw_postrender.cluster.crds import needed

        source = ["--source", self.s.crd_source] if self.s.crd_source else []
        whole = self.s.path == "simple" and not check  # its bundle brings back the v1alpha2 CRDs it deleted
        argv = [
            *own_command(),
            "crds",
            "--apply",
            *(["--dry-run"] if check else []),
            *(["--whole-bundle"] if whole else []),
            "--target-version",
            self.s.target_version,
            *source,
            *context_args(self.s.kube_context),
        ]
        if check:
            return Step(
                "check-crds",
                "check that the GA CRD files download and match their pins (server dry run)",
                argv,
                lambda: self._alpha_gone() or not needed(self.kubectl, self.s.target_version),
                check=True,
            )
        return Step(
            "crds",
            "install the GA CRDs the cluster lacks",
            argv,
            lambda: not needed(self.kubectl, self.s.target_version, whole),
        )

    def recover(self) -> Step:
        release = self.s.recover or ""
        argv = ["helm", "uninstall", release, "-n", self.s.namespace, *context_args(self.s.kube_context)]

        def done() -> bool:
            return self.helm.release_status(release, self.s.namespace, self.s.kube_context) not in _HALF_INSTALLED

        return Step(
            "recover-ga-release",
            f"uninstall {release}, which this migration left half-installed with no traffic on it, to install it again",
            argv,
            done,
        )

    def ga_release(self) -> Step:
        argv = [
            *own_command(),
            "upgrade",
            self.s.ga_release,
            self.s.chart,
            "--install",
            "-n",
            self.s.namespace,
            "--version",
            self.s.chart_version,
            *self._values(),
            *context_args(self.s.kube_context),
            *self._renderer_args(),
        ]
        return Step(
            "ga-release",
            f"install the GA release {self.s.ga_release} with the objectives of the alpha models",
            argv,
            self._ga_released,
        )

    def stage(self, weight: int, asked: bool) -> Step:
        simple = self.s.path == "simple"
        checks = self.s.analysis if weight > 0 else []  # at 0 no traffic reaches the GA pool: nothing to measure
        argv = self._own(
            "shift",
            "--route",
            self.s.route,
            "--alpha-pool",
            self.s.alpha_pool,
            "--ga-pool",
            self.s.ga_release,
            "--ga-weight",
            str(weight),
            "--wait",
            *(["--force"] if simple else []),
            *[arg for name in self.s.accepted_classes for arg in ("--accept-gateway-class", name)],
            *checks,
        )

        def done() -> bool:
            share = route_share(self.kubectl, self.s)
            return share is not None and share >= weight  # migrate only moves toward GA: past this stage is done

        title = f"send {weight}% of {self.s.route} to the GA pool {self.s.ga_release}"
        judged = [what for flag, what in (("--analysis", "probe it"), ("--metrics-url", "judge it from the EPPs' "
                  "metrics")) if flag in checks]  # fmt: skip
        if judged:
            title += f", {' and '.join(judged)}, and go back to the previous stage if that fails"
        return Step(f"stage-{weight}", title, argv, done, stop_before=not asked)

    def programmed(self, weight: int) -> Step:
        gateway_namespace, _, gateway = self.s.gateway.rpartition("/")
        argv = [
            "kubectl",
            "wait",
            "--for=condition=Programmed",
            f"gateway/{gateway}",
            "-n",
            gateway_namespace or self.s.namespace,
            "--timeout=300s",
            *kubeconfig_args(),
            *([f"--context={self.s.kube_context}"] if self.s.kube_context else []),
        ]

        def done() -> bool:
            share = route_share(self.kubectl, self.s)
            return share is not None and share > weight

        return Step("programmed", f"check that Gateway {gateway} is PROGRAMMED with the split", argv, done, check=True)

    def verify(self) -> Step:
        url = ["--url", self.s.verify_url] if self.s.verify_url else []
        argv = self._own("verify", "--gateway", self.s.gateway, "--model", self.s.model or "", *url)
        return Step(
            "verify", f"check that Gateway {self.s.gateway} answers a completion for {self.s.model}", argv, check=True
        )

    def remove_alpha(self) -> Step:
        if self.s.path == "simple":
            argv = self._own(
                "cleanup",
                "--alpha-pool",
                self.s.alpha_pool,
                "--backup",
                self.s.backup_file,
                "--with-downtime",
                "--delete-unused-crds",
            )
            return Step(
                "remove-alpha",
                f"remove the alpha stack of {self.s.alpha_pool} and the unused v1alpha2 CRDs (the outage starts here)",
                argv,
                lambda: self._alpha_gone() and self._alpha_crds_gone(unless_used=True),
            )
        argv = self._own(
            "cleanup",
            "--alpha-pool",
            self.s.alpha_pool,
            "--ga-pool",
            self.s.ga_release,
            "--backup",
            self.s.backup_file,
            *(["--delete-crds"] if self.s.delete_crds else []),
        )
        title = f"remove the alpha stack of {self.s.alpha_pool}" + (
            " and the v1alpha2 CRDs" if self.s.delete_crds else ""
        )
        return Step(
            "remove-alpha",
            title,
            argv,
            lambda: self._alpha_gone() and (not self.s.delete_crds or self._alpha_crds_gone()),
        )


def describe_crds(findings, target_version: str) -> str:
    """What the CRD step will install on this cluster, when its version is known."""
    from infgw_postrender.cluster.crds import decide

    if not findings.server_version:
        return "decided from the cluster when it runs"
    installed = {c["name"]: c["owner"] for c in findings.crds} if findings.crds else None
    decision = decide(findings.server_version, installed, target_version)
    return "; ".join(decision.reasons) + f" ({', '.join(f.name for f in decision.files) or 'nothing'})"

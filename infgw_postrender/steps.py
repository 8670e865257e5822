"""The guide's two paths as ordered, idempotent steps: each knows the command a person would type, whether the
cluster already shows it done, and how to do it. `migrate` runs the steps that are not done, in order, so that
after a failure the same command goes on from where the cluster is."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from infgw_postrender.errors import MigrateError
from infgw_postrender.helm import Helm, context_args
from infgw_postrender.kube import Kubectl, NotFound
from infgw_postrender.mapping import alpha_group, ga_group, mapping


@dataclass
class Settings:
    namespace: str
    kube_context: str | None
    path: str  # simple | zero-downtime
    alpha_pool: str
    ga_release: str
    chart: str
    chart_version: str
    route: str
    gateway: str
    stages: list[int] = field(default_factory=list)
    chart_values: list[str] = field(default_factory=list)
    crd_source: str | None = None
    model: str = "food-review"
    verify_url: str | None = None
    state_dir: str = "."  # where the models export and the backup are written

    @property
    def models_file(self) -> str:
        return str(Path(self.state_dir) / f"{self.alpha_pool}-inferencemodels.yaml")

    @property
    def backup_file(self) -> str:
        return str(Path(self.state_dir) / f"{self.alpha_pool}-alpha-backup.yaml")


@dataclass
class Step:
    key: str  # models, crds, ga-release, stage-N, verify, backup, remove-alpha
    title: str
    command: str
    done: Callable[[], bool] = field(repr=False, default=lambda: False)
    run: Callable[[], None] = field(repr=False, default=lambda: None)
    stop_before: bool = False  # a traffic stage nobody asked for: migrate stops and says what is next


def _cli(settings: Settings, *args: str) -> str:
    scope = ["-n", settings.namespace, *context_args(settings.kube_context)]
    return shlex.join(["helm", "infgw-migrate", *args, *scope])


def steps(settings: Settings, kubectl: Kubectl | None = None, helm: Helm | None = None) -> list[Step]:
    """The steps for this path; without kubectl/helm they can only be printed (plan)."""
    kubectl = kubectl or Kubectl.from_options(settings.kube_context, settings.namespace)
    helm = helm or Helm.from_env()
    make = _Steps(settings, kubectl, helm)
    if settings.path == "simple":
        return [make.export_models(), make.backup_alpha(), make.remove_alpha(), make.crds(), make.ga_release(),
                make.stage(100, asked=True, force=True), make.verify()]
    stages = settings.stages or [0, 50, 100]
    result = [make.export_models(), make.crds(), make.ga_release()]
    result += [make.stage(weight, asked=bool(settings.stages)) for weight in stages]
    if stages[-1] == 100:
        result += [make.verify(), make.backup_alpha(), make.remove_alpha()]
    return result


def describe_crds(findings) -> str:
    """What the CRD step will install on this cluster, when its version is known."""
    from infgw_postrender.crds import decide

    if not findings.server_version:
        return "decided from the server version when it runs"
    decision = decide(findings.server_version, {c["name"]: c["owner"] for c in findings.crds})
    return "; ".join(decision.reasons) + f" ({', '.join(f.name for f in decision.files) or 'nothing'})"


def run_steps(settings: Settings, progress: Callable[[str], None]) -> None:
    for number, step in enumerate(steps(settings), 1):
        if step.done():
            progress(f"step {number} done already: {step.title}")
            continue
        if step.stop_before:
            progress(f"stopped before step {number}: {step.title}")
            progress(f"run it with --stages, or by hand: {step.command}")
            return
        progress(f"step {number}: {step.title}")
        try:
            step.run()
        except MigrateError as error:
            raise type(error)(f"step {number} ({step.title}): {error}; fix it and run the same command again") from None
    progress("all steps done")


class _Steps:
    def __init__(self, settings: Settings, kubectl: Kubectl, helm: Helm) -> None:
        self.s, self.kubectl, self.helm = settings, kubectl, helm
        self.resources = mapping()["cluster"]["resources"]

    # -- reading the cluster --------------------------------------------------------------------------------
    def _exists(self, resource: str, name: str, namespace: str | None) -> dict | None:
        try:
            return self.kubectl.get_one(resource, name, namespace, f"read {resource} {name}")
        except NotFound:
            return None

    def _release_deployed(self, name: str) -> bool:
        """A release whose last install failed half-way exists, but is not done: it is upgraded again."""
        status = self.helm.status(name, self.s.namespace, self.s.kube_context)
        return status is not None and status.get("info", {}).get("status") == "deployed"

    def _route_weights(self) -> dict[tuple[str, str], int]:
        route = self._exists(self.resources["route"], self.s.route, self.s.namespace)
        if route is None:
            return {}
        return {(ref.get("group"), ref.get("name")): ref.get("weight", 1)
                for rule in route["spec"].get("rules") or [] for ref in rule.get("backendRefs") or []}

    def _ga_pool(self) -> str:
        return self.s.ga_release  # the chart names the pool after its release

    # -- the steps ------------------------------------------------------------------------------------------
    def export_models(self) -> Step:
        path = self.s.models_file

        def run() -> None:
            found = self.kubectl.get([self.resources["alpha_model"]], "export the InferenceModels", self.s.namespace)
            mine = [m for m in found if (m["spec"].get("poolRef") or {}).get("name") == self.s.alpha_pool]
            Path(path).write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": mine}, indent=1))

        command = (f"kubectl get {self.resources['alpha_model']} -n {self.s.namespace} -o yaml > {shlex.quote(path)}")
        return Step("models", f"save the alpha pool's InferenceModels to {path}", command, lambda: Path(path).exists(), run)

    def crds(self) -> Step:
        from infgw_postrender.crds import apply_files, decide, installed

        def done() -> bool:
            present = installed(self.kubectl)
            return self.resources["ga_pool"] in present and self.resources["objective"] in present

        def run() -> None:
            decision = decide(self.kubectl.server_version(), installed(self.kubectl))
            apply_files(self.kubectl, decision, self.s.crd_source, False, 120, lambda _: None)

        source = ["--source", self.s.crd_source] if self.s.crd_source else []
        return Step("crds", "install the GA CRDs the cluster needs", _cli(self.s, "crds", "--apply", *source), done, run)

    def ga_release(self) -> Step:
        from infgw_postrender.helm_install import helm_command, run_helm

        renderer = [f"--objectives-from={self.s.models_file}"]
        if self.s.path == "zero-downtime":
            renderer.append(f"--alpha-pool={self.s.alpha_pool}")
        values = [arg for value in self.s.chart_values for arg in ("--set", value)]
        helm_args = ["--install", "-n", self.s.namespace, "--version", self.s.chart_version, *values]
        helm_args += context_args(self.s.kube_context)

        def run() -> None:
            command = helm_command(self.helm, "upgrade", self.s.ga_release, self.s.chart, helm_args, renderer + ["--quiet"], False)
            if run_helm(command) != 0:
                raise MigrateError(f"helm upgrade --install {self.s.ga_release} failed (see Helm's message above)")

        command = shlex.join(["helm", "infgw-migrate", "upgrade", self.s.ga_release, self.s.chart, *helm_args, *renderer])
        return Step("ga-release", f"install the GA release {self.s.ga_release} with the objectives of the alpha models", command,
                    lambda: self._release_deployed(self.s.ga_release), run)

    def stage(self, weight: int, asked: bool, force: bool = False) -> Step:
        from infgw_postrender.shift import shift, wait_accepted

        def done() -> bool:
            weights = self._route_weights()
            alpha = weights.get((alpha_group(), self.s.alpha_pool), 0)
            return weights.get((ga_group(), self._ga_pool())) == weight and (alpha == 100 - weight)

        def run() -> None:
            result = shift(self.kubectl, self.s.route, self.s.alpha_pool, self._ga_pool(), weight, force=force)
            if result.applied and not force:
                wait_accepted(self.kubectl, self.s.route, result.generation, 300, lambda _: None)

        extra = ["--force"] if force else ["--wait"]
        command = _cli(self.s, "shift", "--route", self.s.route, "--alpha-pool", self.s.alpha_pool,
                       "--ga-pool", self._ga_pool(), "--ga-weight", str(weight), *extra)
        title = f"send {weight}% of {self.s.route} to the GA pool {self._ga_pool()}"
        return Step(f"stage-{weight}", title, command, done, run, stop_before=not asked)

    def verify(self) -> Step:
        from infgw_postrender.verify import DEFAULT_PROMPT, VerifyFailed, verify

        def run() -> None:
            verdict = verify(None if self.s.verify_url else self.kubectl, self.s.gateway, self.s.verify_url, 80,
                             self.s.model, DEFAULT_PROMPT, 30)
            if not verdict.ok:
                raise VerifyFailed(verdict.detail)

        url = ["--url", self.s.verify_url] if self.s.verify_url else []
        return Step("verify", f"check that Gateway {self.s.gateway} answers a completion",
                    _cli(self.s, "verify", "--gateway", self.s.gateway, "--model", self.s.model, *url),
                    lambda: False, run)

    def backup_alpha(self) -> Step:
        from infgw_postrender.cleanup import CleanupPlan, alpha_stack, write_backup

        def run() -> None:
            pool = self._exists(self.resources["alpha_pool"], self.s.alpha_pool, self.s.namespace)
            plan = CleanupPlan(self.s.namespace, self.s.alpha_pool)
            plan.helm_release, plan.objects = alpha_stack(self.kubectl, self.helm, self.s.alpha_pool, pool, self.s.namespace)
            route = self._exists(self.resources["route"], self.s.route, self.s.namespace)
            plan.objects += [route] if route else []
            write_backup(plan, self.s.backup_file)

        return Step("backup", f"back up the alpha objects and the route to {self.s.backup_file}",
                    f"kubectl get ... -o yaml > {self.s.backup_file}", lambda: Path(self.s.backup_file).exists(), run)

    def remove_alpha(self) -> Step:
        from infgw_postrender.cleanup import plan_cleanup, run_cleanup

        def done() -> bool:
            """Nothing of the alpha stack left: pool, models and Helm release (a stopped run leaves some)."""
            if self._exists(self.resources["alpha_pool"], self.s.alpha_pool, self.s.namespace) is not None:
                return False
            models = self.kubectl.get([self.resources["alpha_model"]], "list InferenceModels", self.s.namespace)
            if any((m["spec"].get("poolRef") or {}).get("name") == self.s.alpha_pool for m in models):
                return False
            return self.helm.status(self.s.alpha_pool, self.s.namespace, self.s.kube_context) is None

        def run() -> None:
            if self.s.path == "simple":
                run_cleanup(self.kubectl, self.helm, self._simple_plan())
            else:
                plan = plan_cleanup(self.kubectl, self.helm, self.s.alpha_pool, self._ga_pool(), delete_crds=False)
                run_cleanup(self.kubectl, self.helm, plan)

        command = _cli(self.s, "cleanup", "--alpha-pool", self.s.alpha_pool, "--ga-pool", self._ga_pool(),
                       "--backup", self.s.backup_file)
        if self.s.path == "simple":
            command = f"helm uninstall {self.s.alpha_pool} -n {self.s.namespace}  # the outage starts here"
        return Step("remove-alpha", f"remove the alpha stack of {self.s.alpha_pool}", command, done, run)

    def _simple_plan(self):
        """The simple path removes the alpha stack before the GA one exists: no serving or route check."""
        from infgw_postrender.cleanup import CleanupPlan, alpha_stack

        pool = self._exists(self.resources["alpha_pool"], self.s.alpha_pool, self.s.namespace)
        plan = CleanupPlan(self.s.namespace, self.s.alpha_pool)
        plan.helm_release, plan.objects = alpha_stack(self.kubectl, self.helm, self.s.alpha_pool, pool, self.s.namespace)
        return plan

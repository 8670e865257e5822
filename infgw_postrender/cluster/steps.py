"""The guide's two paths as ordered steps. Each step is the argv of a command a person could type (this tool's
own, kubectl or helm): `plan` prints exactly it and `migrate` runs exactly it (run.py). Each step also knows, from
the cluster alone, whether it is done (judge.py), so that after a failure the same command goes on from where the
cluster is. What is checked before any step is prepare.py's."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.cluster.helm import Helm, context_args
from infgw_postrender.cluster.judge import alpha_gone, route_share
from infgw_postrender.cluster.kube import Kubectl, kubeconfig_args
from infgw_postrender.cluster.prepare import HALF_INSTALLED
from infgw_postrender.cluster.settings import Settings, Step, own_command
from infgw_postrender.cluster.state import read_items


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
            return self.helm.release_status(release, self.s.namespace, self.s.kube_context) not in HALF_INSTALLED

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

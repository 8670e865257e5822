"""What can be checked before anything changes, read-only: the alpha pool's selector and port (the GA pool must
select the same pods), the provider and the CRDs it needs, Helm operations left pending, a mistyped pool; and the
run's own state, written before the first step for when the alpha stack is gone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from infgw_postrender.api.mapping import api
from infgw_postrender.cluster.gateways import check_gateway_class
from infgw_postrender.cluster.helm import Helm, context_args
from infgw_postrender.cluster.judge import alpha_pools, route_share, unserved_crds
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.cluster.settings import RUN, Settings
from infgw_postrender.cluster.state import read_items, write_items
from infgw_postrender.errors import InputError, MigrateError, Refused

_PROVIDER_VALUE = "provider.name"  # the same in the inferencepool and llm-d-router-gateway charts
_PENDING = {
    "pending-install": "helm uninstall {release} -n {namespace}",
    "pending-upgrade": "helm rollback {release} -n {namespace}",
    "pending-rollback": "helm rollback {release} -n {namespace}",
}
# A first install that never finished: safe to uninstall and install again while no traffic reaches it
HALF_INSTALLED = ("pending-install", "failed")


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
            and status in HALF_INSTALLED
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
    half_installed = ga.get("version") == 1 and statuses[settings.ga_release] in HALF_INSTALLED
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


def _json(text: str) -> dict | None:
    import json

    try:
        found = json.loads(text or "null")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None

"""InferenceObjectives for a GA pool from the InferenceModels an alpha pool has in the cluster, reported as the
post-renderer reports them."""

from __future__ import annotations

from infgw_postrender.api.releases import parse_target
from infgw_postrender.cluster.cleanup import pool_models
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.errors import InputError
from infgw_postrender.postrender.objectives import from_model, parse_priority_map
from infgw_postrender.postrender.pipeline import append_generated
from infgw_postrender.postrender.report import Report
from infgw_postrender.postrender.stream import join


def objectives_from_cluster(
    kubectl: Kubectl, alpha_pool: str, ga_pool: str, priority_map: str | None, target_version: str
) -> tuple[str, str]:
    """(manifests, report text)."""
    priorities = parse_priority_map(priority_map)
    target = parse_target(target_version)
    if target.objective_api_version is None:
        raise InputError(f"--target-version {target.name}: {target.lacks_objectives_why()}")
    namespace = kubectl.default_namespace
    models = pool_models(kubectl, alpha_pool, namespace)
    if not models:
        raise InputError(
            f"--alpha-pool {alpha_pool}: no InferenceModel in {namespace} points at it; check -n and the name"
        )
    report = Report()
    documents: list = []
    generated = [item for model in models for item in from_model(model, ga_pool, namespace, priorities, target)]
    append_generated(documents, generated, report)
    return join(documents), report.as_text()

"""Shapes of Kubernetes objects that both halves read and write: a `kind: List`, a condition, the metadata the
API server owns, and the parents that accepted a pool."""

from __future__ import annotations

import copy
from typing import Any

from infgw_postrender.api.mapping import api


def as_list(items: list[dict]) -> dict:
    """A `kind: List` of these objects, as kubectl reads and writes several objects at once."""
    return {"apiVersion": "v1", "kind": "List", "items": items}


def condition(obj: dict | None, kind: str) -> dict | None:
    """The condition of this type that `obj` (an object's status, or a status parent) reports; conditions are a
    list keyed by type, so there is one at most."""
    return next((c for c in (obj or {}).get("conditions") or [] if c.get("type") == kind), None)


def condition_is_true(obj: dict | None, kind: str) -> bool:
    """Whether `obj` reports the condition `kind` with status True."""
    return (condition(obj, kind) or {}).get("status") == "True"


def accepted_parents(pool: dict) -> list[str]:
    """The Gateways whose status on this pool says Accepted=True."""
    return [
        str((parent.get("parentRef") or {}).get("name"))
        for parent in (pool.get("status") or {}).get("parents") or []
        if condition_is_true(parent, "Accepted")
    ]


def as_manifest(obj: dict) -> dict:
    """A copy of a live object without what the API server owns (status, uid, resourceVersion, kubectl apply's
    copy), so that it can be created or applied again."""
    clean = copy.deepcopy(obj)
    clean.pop("status", None)
    metadata = clean.get("metadata") or {}
    for key in api().server_owned_metadata:
        metadata.pop(key, None)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(api().last_applied_annotation, None)
        if not annotations:
            del metadata["annotations"]
    return clean


def pool_of_model(model: Any) -> str | None:
    """The pool an alpha InferenceModel's poolRef names (in the model's own namespace)."""
    return ((model.get("spec") or {}).get("poolRef") or {}).get("name") if isinstance(model, dict) else None

"""The weighted HTTPRoute of the guide's traffic split: alpha pool at 100-N, GA pool at N."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

from infgw_postrender.api.mapping import alpha_group, api, ga_group
from infgw_postrender.api.objects import as_manifest
from infgw_postrender.errors import InputError
from infgw_postrender.postrender.objectives import Generated


def backend(group: str, name: str, weight: int) -> dict:
    return {"group": group, "kind": api().pool.kind, "name": name, "weight": weight}


def split_backends(alpha_pool: str, ga_pool: str, weight: int) -> list[dict]:
    """At 100 only the GA pool remains, as in the guide's last step."""
    backends = [] if weight == 100 else [backend(alpha_group(), alpha_pool, 100 - weight)]
    return backends + [backend(ga_group(), ga_pool, weight)]


def model_rule(model: str, objective: str, backends: list[dict]) -> dict:
    """Requests for `model` (body-based routing puts it in its header) get `objective`, the header a v1 EPP reads."""
    return {
        "matches": [{"headers": [{"type": "Exact", "name": api().body_based_routing.model_header, "value": model}]}],
        "filters": [
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": api().objective.header, "value": objective}]},
            }
        ],
        "backendRefs": copy.deepcopy(backends),
    }


def new_route(
    name: str,
    namespace: str | None,
    gateway: str,
    gateway_namespace: str | None,
    alpha_pool: str,
    ga_pool: str,
    weight: int,
    models: Sequence[tuple[str, str]] = (),
) -> Generated:
    """The weighted route; `models` (model name, objective) each get a rule of their own before the catch-all,
    with the same split."""
    table = api().route
    parent: dict[str, Any] = {"group": table.gateway_group, "kind": "Gateway", "name": gateway}
    if gateway_namespace:
        parent["namespace"] = gateway_namespace
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    obj: dict[str, Any] = {
        "apiVersion": table.api_version,
        "kind": table.kind,
        "metadata": metadata,
        "spec": {"parentRefs": [parent], "rules": []},
    }
    backends = split_backends(alpha_pool, ga_pool, weight)
    if len(models) + 1 > api().route.max_rules:
        raise InputError(
            f"--model-routing: {len(models)} models need {len(models) + 1} HTTPRoute rules and the "
            f"HTTPRoute CRD allows {api().route.max_rules} (spec.rules); route at most "
            f"{api().route.max_rules - 1} models this way (split the models over several releases)"
        )
    obj["spec"]["rules"] = [model_rule(model, objective, backends) for model, objective in models]
    obj["spec"]["rules"].append({"backendRefs": backends})
    changes = [f"traffic split: {alpha_pool} (alpha) {100 - weight}%, {ga_pool} (GA) {weight}%"]
    changes += [f"rule for model {model}: objective {objective}, same split" for model, objective in models]
    return Generated(obj, changes)


def _points_at(ref: Any, group: str, name: str) -> bool:
    return (
        isinstance(ref, dict)
        and ref.get("kind") == api().pool.kind
        and ref.get("group") == group
        and ref.get("name") == name
    )


def rewrite_route(route: dict, source: str, alpha_pool: str, ga_pool: str, weight: int) -> Generated:
    """Change only the backendRefs that point at the alpha pool or its GA twin; both move to the new weights."""
    if not isinstance(route, dict) or route.get("kind") != api().route.kind:
        raise InputError(f"{source}: not an HTTPRoute; pass the YAML of one HTTPRoute")
    obj = as_manifest(route)
    made = Generated(obj)
    touched = 0
    for number, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        refs = rule.get("backendRefs") or []
        mine = [
            ref for ref in refs if _points_at(ref, alpha_group(), alpha_pool) or _points_at(ref, ga_group(), ga_pool)
        ]
        if not mine:
            continue
        touched += 1
        share = sum(int(ref.get("weight", 1)) for ref in mine)
        others = [ref for ref in refs if all(ref is not own for own in mine)]
        scale, alpha_weight, ga_weight = split_weights(share, weight, bool(others))
        if scale > 1:
            for ref in others:
                ref["weight"] = int(ref.get("weight", 1)) * scale
        if others:
            made.assumed.append(
                f"rule {number}: the pools keep their share {share} of the rule, split {100 - weight}:{weight}"
                + (f"; every weight scaled x{scale} to keep both ratios exact" if scale > 1 else "")
            )
        kept = []
        for ref in refs:
            if ref is mine[0]:
                kept.extend(_split_ref(ref, alpha_pool, ga_pool, weight, alpha_weight, ga_weight, number, made))
            elif all(ref is not own for own in mine):
                kept.append(ref)
        rule["backendRefs"] = kept
    if not touched:
        raise InputError(
            f"{source}: no backendRef points at the alpha pool {alpha_pool} (group {alpha_group()}) "
            f"or the GA pool {ga_pool}; check --alpha-pool and --ga-pool (or --pool-name)"
        )
    return made


# Gateway API: a backendRef's weight is at most 1,000,000
_MAX_WEIGHT = 1_000_000


def split_weights(share: int, weight: int, others: bool) -> tuple[int, int, int]:
    """(scale for the other backends, alpha weight, GA weight): alpha:GA is exactly (100-weight):weight and,
    with other backends in the rule, alpha+GA keeps the pools' `share` against them (all weights times `scale`,
    the least integer that makes both ratios exact)."""
    if not others:
        return 1, 100 - weight, weight
    if share == 0:
        return 1, 0, 0  # the pools had no traffic in this rule; they get none
    step = math.gcd(100 - weight, weight)  # gcd(0, 100) = 100: at 0 or 100 only one pool
    alpha_part, ga_part, parts = (100 - weight) // step, weight // step, 100 // step
    scale = parts // math.gcd(share, parts)
    unit = share * scale // parts
    if share * scale > _MAX_WEIGHT:
        raise InputError(
            f"--ga-weight {weight}: keeping the rule's ratios needs weights above {_MAX_WEIGHT:,}; "
            "lower the other backends' weights or choose a rounder percentage"
        )
    return scale, alpha_part * unit, ga_part * unit


def _split_ref(
    ref: dict, alpha_pool: str, ga_pool: str, weight: int, alpha_weight: int, ga_weight: int, rule: int, made: Generated
) -> list[dict]:
    result = []
    if weight < 100:
        alpha_ref = copy.deepcopy(ref)
        alpha_ref.update(group=alpha_group(), name=alpha_pool, weight=alpha_weight)
        result.append(alpha_ref)
    ga_ref = copy.deepcopy(ref)
    ga_ref.update(group=ga_group(), name=ga_pool, weight=ga_weight)
    result.append(ga_ref)
    made.changes.append(
        f"rule {rule}: {alpha_pool} (alpha) weight {alpha_weight if weight < 100 else 'removed'}, "
        f"{ga_pool} (GA) weight {ga_weight}"
    )
    return result

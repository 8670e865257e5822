"""InferenceModel (alpha) -> InferenceObjective, and targetModels -> InferenceModelRewrite where the target's EPP
acts on it; both in the group the target's EPP reads (mapping.yaml's releases)."""

from __future__ import annotations

from typing import Any

from infgw_postrender.api.mapping import api, ga_group
from infgw_postrender.api.names import check_label
from infgw_postrender.api.releases import Target, gie
from infgw_postrender.errors import InputError
from infgw_postrender.postrender.report import Loss


class Generated:
    """An object to add to the stream, with what the report should say of it. Not a dataclass: creating one costs
    every start a quarter of a millisecond (issue 33)."""

    __slots__ = ("obj", "changes", "assumed", "not_carried_over")

    def __init__(self, obj: dict, changes: list[str] | None = None) -> None:
        self.obj = obj
        self.changes: list[str] = changes if changes is not None else []
        self.assumed: list[str] = []
        self.not_carried_over: list[Loss] = []


def parse_priority_map(text: str | None) -> dict[str, int]:
    """`Critical=3,Standard=1,Sheddable=-1` over the default map."""
    priorities = dict(api().objective.priorities)
    if not text:
        return priorities
    for item in text.split(","):
        criticality, _, value = item.partition("=")
        criticality = criticality.strip()
        if criticality not in priorities:
            raise InputError(
                f"--priority-map {text!r}: unknown criticality {criticality!r}; use {', '.join(priorities)}"
            )
        priorities[criticality] = parse_priority(value.strip(), f"--priority-map {criticality}")
    return priorities


def parse_priority(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{flag}: priority {value!r} is not an integer (e.g. 2, 0 or -1)") from None


def parse_objective_flag(text: str) -> tuple[str, int]:
    name, equals, value = text.partition("=")
    if not equals:
        raise InputError(f"--objective {text!r}: expected NAME=PRIORITY, e.g. --objective food-review=2")
    return check_label(name, "--objective"), parse_priority(value, f"--objective {name}")


def objective(name: str, priority: int | None, pool: str, namespace: str | None, target: Target) -> dict:
    """An InferenceObjective of `target`'s group (the caller has checked that the target has one)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    spec: dict[str, Any] = {}
    if priority is not None:
        spec["priority"] = priority
    spec["poolRef"] = {"group": ga_group(), "name": pool}
    return {
        "apiVersion": target.objective_api_version,
        "kind": api().objective.kind,
        "metadata": metadata,
        "spec": spec,
    }


def from_flag(name: str, priority: int, pool: str, namespace: str | None, target: Target) -> Generated:
    return Generated(objective(name, priority, pool, namespace, target), [f"priority {priority} (from --objective)"])


def from_model(
    model: dict,
    pool: str,
    namespace: str | None,
    priorities: dict[str, int],
    target: Target,
    model_routing: bool = False,
) -> list[Generated]:
    """The objective (and rewrite) that carry one InferenceModel over to the GA pool. With `model_routing` the
    route gets a rule that gives the model's requests this objective, so the model name carries over."""
    table = api().objective
    name = (model.get("metadata") or {}).get("name") or ""
    spec = model.get("spec") or {}
    criticality = spec.get("criticality")
    effective = criticality or table.unset_criticality
    if effective not in priorities:
        raise InputError(
            f"InferenceModel {name}: criticality {effective!r} is not one of {', '.join(priorities)}; "
            "fix the InferenceModel or extend --priority-map"
        )
    made = Generated(objective(name, priorities[effective], pool, namespace, target))
    made.changes.append(f"from InferenceModel {name}: poolRef -> {ga_group()}/{pool}")
    why = "no numeric twin in v1alpha2; override with --priority-map"
    if effective == "Sheddable":
        why = f"the EPP (v{table.sheddable_since} and later) sheds only a negative priority; " + why
    made.assumed.append(
        f"criticality {criticality or 'unset (meant Standard)'} -> priority {priorities[effective]} ({why})"
    )
    model_name = spec.get("modelName")
    model_header = api().body_based_routing.model_header
    if model_routing and model_name:
        made.changes.append(
            f"modelName {model_name} -> HTTPRoute rule: {model_header}: {model_name} sets {table.header}: {name}"
        )
        made.assumed.append(
            f"body-based routing is deployed (it copies the body's model into {model_header}; "
            "`infgw-migrate detect` reports it); without it the rule never matches"
        )
    else:
        made.not_carried_over.append(
            Loss(
                f"modelName {model_name}",
                "the v1 Endpoint Picker picks an objective by the request header "
                f"{table.header}, not by the body's model; without it a request gets priority 0.",
                f"clients must send {table.header}: {name}, or deploy body-based routing and pass --model-routing "
                f"(an HTTPRoute rule on {model_header}: {model_name} sets it).",
            )
        )
    result = [made]
    targets = spec.get("targetModels") or []
    if targets:
        if target.model_rewrite_api_version:
            result.append(_rewrite(name, model_name, targets, pool, namespace, target))
            made.changes.append(f"targetModels -> InferenceModelRewrite {name}")
        else:
            since = rewrites_since()
            made.not_carried_over.append(
                Loss(
                    "targetModels " + ", ".join(f"{t.get('name')}:{t.get('weight', '-')}" for t in targets),
                    f"the EPP of {target.name} acts on no weighted model rewrite (InferenceModelRewrite; GIE's EPP "
                    f"from v{since} to the last release with objectives, llm-d-router's from its first); requests "
                    f"for {model_name} reach the pool unchanged.",
                    f"pass --target-version v{since} (or later) to generate an InferenceModelRewrite, "
                    "or route the target models explicitly.",
                )
            )
    return result


def rewrites_since() -> str:
    """The first GIE release whose EPP acts on InferenceModelRewrite (mapping.yaml's releases)."""
    return next(row.since for row in gie().rows if row.model_rewrite)


def _rewrite(
    name: str, model_name: str | None, targets: list, pool: str, namespace: str | None, target: Target
) -> Generated:
    """The rewrite with the rule field of `target`'s CRD: `targets` from GIE v1.3.0 (`split` was v1.2.0's, whose
    EPP acted on none). A weight is kept only where the model gave one: the CRD takes all weights or none."""
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    weighted = []
    for model in targets:
        entry: dict[str, Any] = {"modelRewrite": model.get("name")}
        if "weight" in model:
            entry["weight"] = model["weight"]
        weighted.append(entry)
    obj = {
        "apiVersion": target.model_rewrite_api_version,
        "kind": api().model_rewrite.kind,
        "metadata": metadata,
        "spec": {
            "poolRef": {"group": ga_group(), "name": pool},
            "rules": [{"matches": [{"model": {"value": model_name}}], target.row.rewrite_targets: weighted}],
        },
    }
    return Generated(
        obj,
        [f"from InferenceModel {name} targetModels ({target.row.rewrite_targets}, as {target.name}'s EPP reads them)"],
    )

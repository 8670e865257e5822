"""InferencePool v1alpha2 -> v1, field by field as upstream's Go conversion (apix/v1alpha2, v1.0.0) does."""

from __future__ import annotations

from typing import Any

from infgw_postrender.api.mapping import api


def replace_key(obj: dict, old: str, new: str, value: Any) -> None:
    """Put `new: value` where `old` was, so the converted object keeps the original's key order."""
    keys = list(obj.keys())
    position = keys.index(old) if old in keys else len(keys)
    obj.pop(old, None)
    if hasattr(obj, "insert"):
        obj.insert(position, new, value)
    else:
        items = list(obj.items())
        items.insert(position, (new, value))
        obj.clear()
        obj.update(items)


def convert_pool(pool_obj: dict, epp_port: int | None = None) -> tuple[list[str], list[str]]:
    """Convert in place. `epp_port` is the port of the EPP Service when the stream shows it.

    Returns (changes, assumptions) for the report.
    """
    table = api().pool
    changes = [f"apiVersion {pool_obj['apiVersion']} -> {table.ga_api_version}"]
    assumed: list[str] = []
    pool_obj["apiVersion"] = table.ga_api_version
    spec = pool_obj.get("spec")
    if isinstance(spec, dict):
        if "targetPortNumber" in spec:
            number = spec["targetPortNumber"]
            replace_key(spec, "targetPortNumber", "targetPorts", [_mapping_like(spec, {"number": number})])
            changes.append(f"targetPortNumber {number} -> targetPorts [{{number: {number}}}]")
        if isinstance(spec.get("selector"), dict):  # every key, as upstream: a label may be named matchLabels
            labels = spec["selector"]
            replace_key(spec, "selector", "selector", _mapping_like(spec, {"matchLabels": labels}))
            changes.append("selector -> selector.matchLabels")
        if "extensionRef" in spec:
            picker, picker_assumed = _endpoint_picker(spec, spec["extensionRef"] or {}, epp_port)
            replace_key(spec, "extensionRef", "endpointPickerRef", picker)
            changes.append("extensionRef -> endpointPickerRef")
            assumed.extend(picker_assumed)
    status = pool_obj.get("status")
    if isinstance(status, dict) and "parent" in status:
        converted = _status(status)
        if converted:
            replace_key(pool_obj, "status", "status", _mapping_like(pool_obj, converted))
        else:
            del pool_obj["status"]
        changes.append("status.parent -> status.parents (synthetic default parent and Pending condition dropped)")
    return changes, assumed


def _mapping_like(sibling: dict, values: dict) -> dict:
    """A new mapping of the same type as the document's own (CommentedMap keeps round-trip formatting)."""
    made = type(sibling)()
    made.update(values)
    return made


def _endpoint_picker(spec: dict, extension: dict, epp_port: int | None) -> tuple[dict, list[str]]:
    picker = _mapping_like(spec, {})
    assumed: list[str] = []
    for key in ("group", "kind", "name"):
        if key in extension:
            picker[key] = extension[key]
    if "portNumber" in extension:
        picker["port"] = _mapping_like(spec, {"number": extension["portNumber"]})
    elif extension.get("kind", "Service") == "Service":
        # The v1 CRD rejects a Service reference without a port (CEL rule); v0.3.0's API says implementations
        # "SHOULD infer a default value of 9002" for a Service (api/v1alpha2/inferencepool_types.go), so infer it.
        port = epp_port or api().pool.epp_default_port
        picker["port"] = _mapping_like(spec, {"number": port})
        origin = "the EPP Service's gRPC port" if epp_port else "the chart's EPP port"
        assumed.append(
            f"endpointPickerRef.port.number {port} ({origin}): v1alpha2 extensionRef had no portNumber "
            "and the v1 CRD requires a port for a Service"
        )
    if "failureMode" in extension:
        picker["failureMode"] = extension["failureMode"]
    return picker, assumed


def _status(status: dict) -> dict:
    reasons = api().pool.reasons
    parents = []
    for parent in status.get("parent") or []:
        ref = parent.get("parentRef") or {}
        if ref.get("kind") == "Status" and ref.get("name") == "default":
            continue
        # upstream's toV1ParentRef (apix/v1alpha2/inferencepool_conversion.go, v1.0.0) keeps these four fields
        converted: dict[str, Any] = {
            "parentRef": {key: ref[key] for key in ("group", "kind", "name", "namespace") if key in ref}
        }
        conditions = []
        for condition in parent.get("conditions") or []:
            if (
                condition.get("type") == "Accepted"
                and condition.get("status") == "Unknown"
                and condition.get("reason") == "Pending"
            ):
                continue
            if condition.get("type") == "Accepted" and condition.get("reason") in reasons:
                condition["reason"] = reasons[condition["reason"]]
            conditions.append(condition)
        if conditions:
            converted["conditions"] = conditions
        parents.append(converted)
    return {"parents": parents} if parents else {}

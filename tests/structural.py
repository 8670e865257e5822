"""What a real API server does with the fields a CRD's structural schema does not declare: with strict field
validation (kubectl's default, `fieldValidation=Strict`) it refuses the object; otherwise it prunes them. Shared by
the tests' schema checker (conftest.Schemas) and the API emulator (kube_api)."""

from __future__ import annotations


def unknown_fields(schema: dict, value, path: str = "") -> list[str]:
    """The fields of `value` that a structural schema does not declare: the API server prunes them, and with
    strict field validation (kubectl's default) refuses the object. `metadata` at the root is the server's own."""
    if isinstance(value, list):
        return [
            found
            for n, item in enumerate(value)
            for found in unknown_fields(schema.get("items") or {}, item, f"{path}[{n}]")
        ]
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    found = []
    for key, item in value.items():
        if not path and key == "metadata":
            continue
        if properties is not None and key in properties:
            found += unknown_fields(properties[key], item, f"{path}.{key}")
        elif isinstance(extra, dict):
            found += unknown_fields(extra, item, f"{path}.{key}")
        elif extra is not True:
            found.append(f"{path}.{key}".lstrip("."))
    return found


def prune(schema: dict, value, root: bool = True) -> None:
    """Drop, in place, every field that unknown_fields names (as the server does without strict validation)."""
    if isinstance(value, list):
        for item in value:
            prune(schema.get("items") or {}, item, False)
        return
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    properties, extra = schema.get("properties"), schema.get("additionalProperties")
    for key in list(value):
        if root and key == "metadata":
            continue
        if properties is not None and key in properties:
            prune(properties[key], value[key], False)
        elif isinstance(extra, dict):
            prune(extra, value[key], False)
        elif extra is not True:
            del value[key]

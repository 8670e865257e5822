"""A CRD's `x-kubernetes-validations` CEL rules, evaluated as the API server does: after the schema's defaults are
applied, with `self` the value at the rule's node and declared property names escaped the Kubernetes way
(`namespace` is `__namespace__`, `a.b` is `a__dot__b`). Transition rules (`oldSelf`) need an old object and are
skipped. The evaluator is cel-python (celpy), a test dependency."""

from __future__ import annotations

import copy
import functools
import re

_RESERVED = {
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
}


def escape(name: str) -> str:
    if name in _RESERVED:
        return f"__{name}__"
    name = name.replace("__", "__underscores__")
    return re.sub(r"[./-]", lambda m: {".": "__dot__", "/": "__slash__", "-": "__dash__"}[m.group()], name)


def with_defaults(schema: dict, value):
    """The value as stored: every absent property that has a default gets it (recursively)."""
    if isinstance(value, dict):
        value = dict(value)
        properties = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        return {key: with_defaults(properties.get(key) or extra or {}, item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_defaults(schema.get("items") or {}, item) for item in value]
    return value


def _as_cel_sees_it(schema: dict, value):
    if isinstance(value, dict):
        properties = schema.get("properties")
        if properties is not None:
            return {escape(key): _as_cel_sees_it(properties.get(key) or {}, item) for key, item in value.items()}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else {}
        return {key: _as_cel_sees_it(extra, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_cel_sees_it(schema.get("items") or {}, item) for item in value]
    return value


def _heterogeneous(compare):
    """Kubernetes' CEL (cel-go) compares values of different types for equality: they are not equal (an
    int-or-string port "metrics" != 0 holds on a real server); cel-python finds no overload and fails the rule."""
    from celpy.celtypes import BoolType

    def equal(a, b):
        try:
            return compare(a, b)
        except TypeError:
            return BoolType(compare is _ne)

    return equal


def _ne(a, b):
    from celpy.evaluation import bool_ne

    return bool_ne(a, b)


@functools.cache
def _program(rule: str):
    import celpy
    from celpy.evaluation import bool_eq

    environment = celpy.Environment()
    return environment.program(
        environment.compile(rule), functions={"_==_": _heterogeneous(bool_eq), "_!=_": _heterogeneous(_ne)}
    )


def violations(schema: dict, value, path: str = "") -> list[str]:
    """Every rule that does not hold, as `path: rule (message)`."""
    import celpy

    found = []
    for validation in schema.get("x-kubernetes-validations") or []:
        rule = validation["rule"]
        if "oldSelf" in rule:
            continue
        try:
            result = _program(rule).evaluate({"self": celpy.json_to_cel(_as_cel_sees_it(schema, value))})
        except (celpy.evaluation.CELEvalError, TypeError) as error:  # the API server: "no such key" fails the rule
            result = error
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):  # an evaluation error fails too
            found.append(f"{path or '<root>'}: {rule[:120]} ({validation.get('message', 'failed')})")
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties") if isinstance(schema.get("additionalProperties"), dict) else None
        for key, item in value.items():
            sub = properties.get(key) or extra
            if sub:
                found += violations(sub, item, f"{path}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found += violations(schema["items"], item, f"{path}[{index}]")
    return found


def check(schema: dict, obj: dict) -> list[str]:
    return violations(schema, with_defaults(schema, obj))

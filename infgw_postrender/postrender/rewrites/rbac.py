"""The EPP's Role (or ClusterRole) may read GA pools: mapping.yaml's rbac_rule is added unless a rule grants it."""

from __future__ import annotations

import copy
from typing import Any

from infgw_postrender.api.mapping import api, ga_group
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.stream import Document


def grant_ga_pools(job: Job) -> None:
    rule = api().epp.rbac_rule.as_dict()
    for kind in ("Role", "ClusterRole"):
        for document in job.index.of_kind(kind, job.group.documents):
            if not document.contains("inferencepools"):
                continue
            rules = _rules_from_text(document)
            if rules is None:
                rules = document.data.get("rules")
                if not isinstance(rules, list):
                    continue
                _check_rules(document, rules)
            if any(grants(existing, rule) for existing in rules):
                continue
            document.rewrite(("rules",), lambda role: role["rules"].append(copy.deepcopy(rule)))
            job.index.record(
                document, "updated", f"rule added: {', '.join(rule['verbs'])} {rule['resources'][0]} in {ga_group()}"
            )


def _rules_from_text(document: Document) -> list[dict] | None:
    """The rules' lists read off the text, as charts render them (flow or block lists of strings): a Role is not
    parsed only to be found granting what it should (one a release, issue 33). None when written otherwise."""
    items = document.peek_items(("rules",), _RULE_FIELDS)
    if items is None:
        return None
    rules = []
    for item in items:
        rule = {}
        for field_name in _RULE_FIELDS:
            if field_name in item:
                found = item[field_name]
                if found is None or isinstance(found.value, str):
                    return None  # parsed: _check_rules names what is wrong, or the parse reads what this does not
                rule[field_name] = found.value
        rules.append(rule)
    return rules


_RULE_FIELDS = ("apiGroups", "resources", "verbs")


def _check_rules(document: Document, rules: list) -> None:
    """A PolicyRule's lists are lists of strings; anything else is the chart's mistake, named by its path."""
    for number, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise InputError(f"{where(document.index, document.source)}: rules[{number}] is not a mapping")
        for field_name in _RULE_FIELDS:
            value = rule.get(field_name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise InputError(
                    f"{where(document.index, document.source)}: rules[{number}].{field_name} is "
                    f"{value!r}, not a list of strings"
                )


def grants(existing: Any, wanted: dict) -> bool:
    """Whether the PolicyRule `existing` allows everything `wanted` asks for (a `*` allows all)."""
    if not isinstance(existing, dict):
        return False
    resources, verbs = existing.get("resources") or [], existing.get("verbs") or []
    return (
        set(wanted["apiGroups"]) <= set(existing.get("apiGroups") or [])
        and (set(wanted["resources"]) <= set(resources) or "*" in resources)
        and (set(wanted["verbs"]) <= set(verbs) or "*" in verbs)
    )

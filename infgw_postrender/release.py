"""The GA release in the stream: its pools, what refers to them, its EPP, and the names it must not share
with the alpha release."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import semver

from infgw_postrender.errors import InputError
from infgw_postrender.mapping import alpha_group, ga_group, mapping
from infgw_postrender.names import epp_name, with_suffix
from infgw_postrender.paths import containers, slots
from infgw_postrender.pool import convert_pool, is_alpha_pool, is_ga_pool
from infgw_postrender.report import Loss, Report
from infgw_postrender.stream import Document


@dataclass
class Unit:
    """One InferencePool of the stream and the names the chart derived from its release."""

    document: Document
    pool: str  # the pool's name as rendered: the release name
    namespace: str | None
    epp: str | None  # the EPP Service the pool points at
    new_pool: str | None = None

    @property
    def final_pool(self) -> str:
        return self.new_pool or self.pool


def _name(obj: Any) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def _namespace(obj: Any) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


class GaRelease:
    """Applies the conversion to the documents of one stream, and records it in the report."""

    def __init__(self, documents: list[Document], report: Report) -> None:
        self.documents = documents
        self.report = report
        self.kinds: dict[int, str] = {}
        for document in documents:
            if not document.is_empty:
                self.kinds[document.index] = document.header()[1]
        self.units = [self._unit(document) for document in self.of_kind(mapping()["pool"]["kind"])]

    # -- reading ---------------------------------------------------------------------------------------------
    def of_kind(self, kind: str, mentioning: str | None = None) -> list[Document]:
        """Documents of a kind, optionally only those whose text mentions a name (a cheap pre-filter)."""
        return [
            document
            for document in self.documents
            if self.kinds.get(document.index) == kind and (mentioning is None or mentioning in document.body)
        ]

    def _unit(self, document: Document) -> Unit:
        obj = document.data
        spec = obj.get("spec") or {}
        picker = spec.get("endpointPickerRef") or spec.get("extensionRef") or {}
        return Unit(document, _name(obj), _namespace(obj), picker.get("name"))

    def select(self, release: str | None, needed_by: str) -> Unit:
        """The pool that per-pool flags act on."""
        if release:
            for unit in self.units:
                if release in (unit.pool, unit.final_pool) or unit.epp == epp_name(release):
                    return unit
            raise InputError(
                f"--release {release}: no InferencePool of that release in the stream "
                f"(pools: {', '.join(u.pool for u in self.units) or 'none'}); name the release being rendered"
            )
        if len(self.units) == 1:
            return self.units[0]
        if not self.units:
            raise InputError(f"{needed_by}: the stream has no InferencePool; render the inferencepool chart")
        raise InputError(
            f"{needed_by}: the stream has {len(self.units)} InferencePools "
            f"({', '.join(u.pool for u in self.units)}); pick one with --release NAME"
        )

    def entry(self, document: Document):
        obj = document.data
        return self.report.entry(document.index, obj["kind"], _name(obj), _namespace(obj))

    # -- converting --------------------------------------------------------------------------------------------
    def convert_pools(self) -> None:
        for unit in self.units:
            obj = unit.document.data
            if not is_alpha_pool(obj):
                continue
            changes, assumed = convert_pool(obj, self._epp_port(unit))
            unit.document.changed = True
            entry = self.entry(unit.document)
            for change in changes:
                self.report.record(entry, "converted", change)
            entry.assumed.extend(assumed)

    def _epp_port(self, unit: Unit) -> int | None:
        if not unit.epp:
            return None
        for document in self.of_kind("Service", unit.epp):
            obj = document.data
            if _name(obj) == unit.epp:
                ports = (obj.get("spec") or {}).get("ports") or []
                named = [p for p in ports if p.get("name") == "grpc-ext-proc"] or ports[:1]
                return named[0].get("port") if named else None
        return None

    def rename_pool(self, unit: Unit, new_name: str, taken: set[tuple[str, str | None, str]]) -> None:
        """Rename the pool; objects named after it follow unless the alpha release already has that name."""
        if new_name == unit.pool:
            return
        unit.new_pool = new_name
        unit.document.data["metadata"]["name"] = new_name
        unit.document.changed = True
        self.report.record(self.entry(unit.document), "renamed", f"name {unit.pool} -> {new_name}")
        for rule in mapping()["named_after_pool"]:
            old = rule["pattern"].format(pool=unit.pool, namespace=unit.namespace or "default")
            new = rule["pattern"].format(pool=new_name, namespace=unit.namespace or "default")
            for document in self.of_kind(rule["kind"], old):
                if _name(document.data) != old:
                    continue
                if self._identity(unit, document)[:2] + (new,) in taken:
                    self.entry(document).assumed.append(
                        f"kept the name {old}: the alpha release has a {rule['kind']} {new}"
                    )
                else:
                    self._rename_object(document, new)

    def follow_pool_references(self) -> None:
        """Every reference to a pool of the stream names the GA group and the pool's final name."""
        by_name = {(unit.pool, unit.namespace): unit for unit in self.units}
        by_name.update({(unit.final_pool, unit.namespace): unit for unit in self.units})
        for rule in mapping()["pool_references"]:
            for document in self.of_kind(rule["kind"]):
                obj = document.data
                for ref in containers(obj, rule["ref"]):
                    if ref.get("kind", mapping()["pool"]["kind"]) != mapping()["pool"]["kind"]:
                        continue
                    unit = by_name.get((ref.get("name"), ref.get("namespace") or _namespace(obj)))
                    if unit is None:
                        continue
                    group = ref.get("group", rule["default_group"])
                    if group not in (alpha_group(), ga_group()):
                        continue
                    changes = []
                    if group != ga_group():
                        ref["group"] = ga_group()
                        changes.append(f"{rule['ref']} group {group or '(core)'} -> {ga_group()}")
                    if ref["name"] != unit.final_pool:
                        changes.append(f"{rule['ref']} name {ref['name']} -> {unit.final_pool}")
                        ref["name"] = unit.final_pool
                    if changes:
                        document.changed = True
                        entry = self.entry(document)
                        for change in changes:
                            self.report.record(entry, "updated", change)

    def update_epp(self) -> None:
        """The EPP's pool flags name the GA pool; an EPP too old to serve v1 pools is reported."""
        epp = mapping()["epp"]
        for unit in self.units:
            for document in self.of_kind("Deployment", unit.pool):
                obj = document.data
                for container in containers(obj, "spec.template.spec.containers[]"):
                    args = container.get("args")
                    if not isinstance(args, list) or _flag_value(args, epp["pool_name_flags"]) not in (
                        unit.pool,
                        unit.final_pool,
                    ):
                        continue
                    self._update_epp_container(unit, document, container, args)

    def _update_epp_container(self, unit: Unit, document: Document, container: dict, args: list) -> None:
        epp = mapping()["epp"]
        changes = []
        if _set_flag(args, epp["pool_name_flags"], unit.final_pool):
            changes.append(f"EPP pool name flag -> {unit.final_pool}")
        if _set_flag(args, epp["pool_group_flags"], ga_group()):
            changes.append(f"--pool-group -> {ga_group()}")
        legacy = [flag for flag in epp["legacy_flags"] if flag in args]
        tag = _image_version(container.get("image") or "")
        too_old = tag is not None and tag < semver.Version.parse(epp["ga_image_since"])
        if not (changes or legacy or too_old):
            return
        entry = self.entry(document)
        for change in changes:
            self.report.record(entry, "updated", change)
        document.changed = document.changed or bool(changes)
        if legacy or too_old:
            why = (
                f"the EPP image {container.get('image')} predates v{epp['ga_image_since']}"
                + (f" (single-dash flags {', '.join(legacy)})" if legacy else "")
                + " and cannot watch v1 InferencePools."
            )
            fix = (
                f"install the GA inferencepool chart (v{epp['ga_image_since']} or later) for this release, "
                f"or set inferenceExtension.image.tag to v{epp['ga_image_since']} or later."
            )
            entry.not_carried_over.append(Loss("Endpoint Picker", why, fix))
            if "not carried over" not in entry.actions:
                entry.actions.append("not carried over")

    def grant_ga_pools(self) -> None:
        """The EPP's Role (or ClusterRole) may read GA pools."""
        rule = mapping()["epp"]["rbac_rule"]
        for unit in self.units:
            if not unit.epp:
                continue
            for kind in ("Role", "ClusterRole"):
                for document in self.of_kind(kind, "inferencepools"):
                    obj = document.data
                    if not _name(obj).startswith(unit.epp):
                        continue
                    rules = obj.get("rules")
                    if not isinstance(rules, list) or any(_grants(r, rule) for r in rules):
                        continue
                    rules.append(copy.deepcopy(rule))
                    document.changed = True
                    self.report.record(
                        self.entry(document),
                        "updated",
                        f"rule added: {', '.join(rule['verbs'])} {rule['resources'][0]} in {ga_group()}",
                    )

    # -- names the alpha release already has -------------------------------------------------------------
    def _identity(self, unit: Unit, document: Document) -> tuple[str, str | None, str]:
        """(kind, namespace or None when cluster-scoped, name) as the API server tells objects apart."""
        kind = self.kinds[document.index]
        obj = document.data
        scoped = kind in mapping()["cluster_scoped_kinds"]
        return kind, None if scoped else (_namespace(obj) or unit.namespace or "default"), _name(obj)

    def _derived(self, unit: Unit) -> list[Document]:
        """The documents whose names the chart may have derived from this release's name."""
        return [
            document
            for document in self.documents
            if document.index in self.kinds
            and document is not unit.document
            and (unit.pool in document.body or (unit.epp or unit.pool) in document.body)
        ]

    def alpha_names(self, unit: Unit, alpha_pool: str, alpha_namespace: str | None) -> set[tuple[str, str | None, str]]:
        """The identities the alpha release's objects have: the chart's own name patterns evaluated for the
        alpha release name, for every object of this release (computed before anything is renamed)."""
        ga_ns = unit.namespace or "default"
        alpha_ns = alpha_namespace or ga_ns
        taken = set()
        for document in self._derived(unit):
            kind, ns, name = self._identity(unit, document)
            alpha_name = _template(unit, name, ga_ns, alpha_pool, alpha_ns)
            if alpha_name is not None:
                taken.add((kind, None if ns is None else alpha_ns, alpha_name))
        return taken

    def avoid_alpha_names(self, unit: Unit, taken: set[tuple[str, str | None, str]], alpha_pool: str) -> None:
        """No object of this release may take the kind, namespace and name of an alpha release object."""
        for document in self._derived(unit):
            kind, ns, name = self._identity(unit, document)
            if (kind, ns, name) not in taken:
                continue
            new = with_suffix(name)
            while (kind, ns, new) in taken:
                new = with_suffix(new)
            self._rename_object(document, new, reason=f"the alpha release {alpha_pool} has a {kind} {name}")

    def _rename_object(self, document: Document, new: str, reason: str | None = None) -> None:
        obj = document.data
        kind, old = obj["kind"], _name(obj)
        obj["metadata"]["name"] = new
        document.changed = True
        self.report.record(self.entry(document), "renamed", f"name {old} -> {new}" + (f" ({reason})" if reason else ""))
        for reference in mapping()["name_references"].get(kind, []):
            for referrer in self.of_kind(reference["kind"], old):
                changed = False
                for parent, key in slots(referrer.data, reference["path"]):
                    if parent[key] == old:
                        parent[key] = new
                        changed = True
                if changed:
                    referrer.changed = True
                    self.report.record(self.entry(referrer), "updated", f"{reference['path']} {old} -> {new}")


def _template(unit: Unit, name: str, ga_ns: str, alpha_pool: str, alpha_ns: str) -> str | None:
    """The name the same chart template gives the alpha release's object, or None if `name` is not derived."""
    if name == unit.pool:
        return alpha_pool
    if name == f"{ga_ns}-{unit.pool}":
        return f"{alpha_ns}-{alpha_pool}"
    own_epp = epp_name(unit.pool)
    if name.startswith(own_epp):
        return epp_name(alpha_pool) + name[len(own_epp) :]
    return None


def _flag_value(args: list, flags: list[str]) -> Any:
    for position, arg in enumerate(args):
        text = str(arg)
        for flag in flags:
            if text == flag and position + 1 < len(args):
                return args[position + 1]
            if text.startswith(flag + "="):
                return text[len(flag) + 1 :]
    return None


def _set_flag(args: list, flags: list[str], value: str) -> bool:
    """Set a present flag's value in place (`--flag value` or `--flag=value`); True if anything changed."""
    for position, arg in enumerate(args):
        text = str(arg)
        for flag in flags:
            if text == flag and position + 1 < len(args):
                if args[position + 1] == value:
                    return False
                args[position + 1] = value
                return True
            if text.startswith(flag + "="):
                if text == f"{flag}={value}":
                    return False
                args[position] = f"{flag}={value}"
                return True
    return False


def _image_version(image: str) -> semver.Version | None:
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    try:
        return semver.Version.parse(tag.removeprefix("v"))
    except ValueError:
        return None


def _grants(existing: Any, wanted: dict) -> bool:
    if not isinstance(existing, dict):
        return False
    return (
        set(wanted["apiGroups"]) <= set(existing.get("apiGroups") or [])
        and (set(wanted["resources"]) <= set(existing.get("resources") or []) or "*" in (existing.get("resources") or []))
        and (set(wanted["verbs"]) <= set(existing.get("verbs") or []) or "*" in (existing.get("verbs") or []))
    )

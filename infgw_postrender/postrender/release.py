"""The GA release(s) in the stream: pools, what refers to them, their EPP, and the names they must not share
with the alpha release.

Documents are indexed once by kind and by name, so that the work per pool does not grow with the stream.
"""

from __future__ import annotations

import bisect
import copy
from dataclasses import dataclass, field
from typing import Any

from infgw_postrender.errors import InputError, where
from infgw_postrender.api.mapping import alpha_group, ga_group, mapping
from infgw_postrender.api.names import RENAME_SUFFIX, epp_name, with_suffix
from infgw_postrender.api.paths import containers, slots
from infgw_postrender.postrender.pool import convert_pool, is_alpha_pool
from infgw_postrender.postrender.report import Entry, Report
from infgw_postrender.postrender.stream import Document

Identity = tuple[str, "str | None", str]  # kind, namespace (None when cluster-scoped), name


@dataclass(slots=True)
class Unit:
    """One InferencePool of the stream and the objects the chart derived from its release name."""

    document: Document
    pool: str  # the pool's name as rendered: the release name
    namespace: str | None
    epp: str | None  # the EPP Service the pool points at
    documents: list[Document] = field(default_factory=list)
    new_pool: str | None = None
    release: str = ""  # the Helm release: the pool's first name, kept in an annotation once the pool is renamed

    @property
    def final_pool(self) -> str:
        return self.new_pool or self.pool


class GaRelease:
    """Applies the conversion to the documents of one stream, and records it in the report."""

    def __init__(self, documents: list[Document], report: Report) -> None:
        self.documents = documents
        self.report = report
        self.by_kind: dict[str, list[Document]] = {}
        self._sorted_names: list[tuple[str, int]] = []
        for document in documents:
            if not document.is_empty:
                document.check_aliases()
                document.identify()
                self.by_kind.setdefault(document.kind, []).append(document)
                if document.name:
                    self._sorted_names.append((document.name, document.index))
        self._sorted_names.sort()
        self.units = [self._unit(document) for document in self.by_kind.get(mapping()["pool"]["kind"], [])]
        del self._sorted_names  # only needed to find each release's documents
        self._by_pool: dict[tuple[str, str | None], Unit] = {}
        self._claimed = bytearray(len(documents))  # by document index; a set of thousands of ints costs more

    # -- reading ---------------------------------------------------------------------------------------------
    def of_kind(self, kind: str, within: list[Document] | None = None) -> list[Document]:
        if within is None:
            return self.by_kind.get(kind, [])
        return [document for document in within if document.kind == kind]

    def name(self, document: Document) -> str:
        return document.name or ""

    def namespace(self, document: Document) -> str | None:
        return document.namespace

    def _named(self, name: str, prefix: bool = False) -> list[Document]:
        """Documents named `name` (or, with prefix, named `name` or `name-...`), in stream order."""
        found = []
        at = bisect.bisect_left(self._sorted_names, (name, -1))
        while at < len(self._sorted_names) and self._sorted_names[at][0].startswith(name):
            candidate, index = self._sorted_names[at]
            if candidate == name or (prefix and candidate.startswith(name + "-")):
                found.append(self.documents[index])
            at += 1
        return sorted(found, key=lambda document: document.index)

    def _unit(self, document: Document) -> Unit:
        picker = document.peek("spec", "endpointPickerRef", "name") or document.peek("spec", "extensionRef", "name")
        if picker is None:  # not in the plain layout: parse, and drop the tree until the pool is processed
            spec = document.data.get("spec")
            ref = (spec.get("endpointPickerRef") or spec.get("extensionRef")) if isinstance(spec, dict) else None
            picker = ref.get("name") if isinstance(ref, dict) else None
            if picker is not None and not isinstance(picker, str):
                field_name = "endpointPickerRef" if "endpointPickerRef" in spec else "extensionRef"
                raise InputError(f"{where(document.index, document.source)}: spec.{field_name}.name is {picker!r}, "
                                 "not a string; quote it")
            document.release()
        if not document.name:
            raise InputError(f"{where(document.index, document.source)}: an InferencePool without metadata.name; "
                             "the chart names it after the release")
        unit = Unit(document, document.name, self.namespace(document), picker)
        unit.release = document.peek("metadata", "annotations", mapping()["release_annotation"]) or unit.pool
        namespace = unit.namespace or "default"
        derived = self._named(unit.pool) + self._named(f"{namespace}-{unit.pool}")
        derived += self._named(epp_name(unit.release), prefix=True)
        if unit.epp and unit.epp != epp_name(unit.release):
            derived += self._named(unit.epp, prefix=True)
        seen = {document.index}
        for candidate in sorted(derived, key=lambda d: d.index):
            if candidate.index not in seen:
                seen.add(candidate.index)
                unit.documents.append(candidate)
        return unit

    def select(self, release: str | None, needed_by: str) -> Unit:
        """The pool that per-pool flags act on."""
        if release:
            for unit in self.units:
                if release in (unit.pool, unit.final_pool, unit.release) or unit.epp == epp_name(release):
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
            f"({', '.join(u.pool for u in self.units[:5])}{', ...' if len(self.units) > 5 else ''}); "
            "pick one with --release NAME, or use {release} in the flag values to act on every pool"
        )

    def entry(self, document: Document) -> Entry:
        return self.report.entry(document.index, document.kind, self.name(document), document.namespace)

    def _record(self, document: Document, action: str, change: str) -> None:
        self.entry(document).record(action, change)

    # -- converting --------------------------------------------------------------------------------------------
    def plan(self, new_names: dict[int, str]) -> None:
        """Decide every pool's final name before any document changes (by pool document index)."""
        for unit in self.units:
            new_name = new_names.get(unit.document.index)
            if new_name and new_name != unit.pool:
                unit.new_pool = new_name
        self._by_pool = {(unit.pool, unit.namespace): unit for unit in self.units}
        self._by_pool.update({(unit.final_pool, unit.namespace): unit for unit in self.units})

    def process(self, unit: Unit, alpha_pool: str | None = None, alpha_namespace: str | None = None) -> None:
        """Everything for one release, then its parsed trees are dropped (memory stays flat)."""
        self._convert(unit)
        taken = self.alpha_names(unit, alpha_pool, alpha_namespace) if alpha_pool else set()
        if unit.new_pool:
            self._rename_pool(unit, taken)
        if alpha_pool:
            self._avoid_alpha_names(unit, taken, alpha_pool)
        mine = unit.documents + [unit.document]
        self._follow_pool_references(mine)
        self._update_epp(unit)
        self._grant_ga_pools(unit)
        for document in mine:
            self._claimed[document.index] = 1
            document.release()

    def finish(self) -> None:
        """References to the pools from documents no release claimed (routes or objectives of other charts)."""
        self._follow_pool_references([d for d in self.documents if d.kind and not self._claimed[d.index]])

    def _convert(self, unit: Unit) -> None:
        if not is_alpha_pool(unit.document.data):
            return
        extension = (unit.document.data.get("spec") or {}).get("extensionRef")
        if not isinstance(extension, dict) or not extension.get("name"):
            # the v1 CRD requires endpointPickerRef with a name: the converted pool would be refused, or serve nothing
            raise InputError(f"{where(unit.document.index, unit.document.source)}: InferencePool {unit.pool} has no "
                             "spec.extensionRef.name, and a v1 pool needs endpointPickerRef (its EPP Service); render "
                             "the pool with its EPP (the inferencepool chart's inferenceExtension) and run again")
        port = self._epp_port(unit)
        changes, assumed = unit.document.rewrite(lambda pool: convert_pool(pool, port))
        entry = self.entry(unit.document)
        for change in changes:
            entry.record("converted", change)
        entry.assume(*assumed)

    def _epp_port(self, unit: Unit) -> int | None:
        for document in self.of_kind("Service", unit.documents):
            if self.name(document) == unit.epp:
                ports = (document.data.get("spec") or {}).get("ports") or []
                named = [p for p in ports if p.get("name") == "grpc-ext-proc"] or ports[:1]
                return named[0].get("port") if named else None
        return None

    def _rename_pool(self, unit: Unit, taken: set[Identity]) -> None:
        """Rename the pool; objects named after it follow unless the alpha release already has that name."""
        new_name = unit.final_pool
        self._rename(unit.document, new_name, unit)
        # a later run reads the release from here: {release} in its flags must mean the same release again
        annotations = unit.document.data["metadata"].get("annotations")
        if not (isinstance(annotations, dict) and mapping()["release_annotation"] in annotations):
            unit.document.rewrite(lambda pool: _annotate(pool, mapping()["release_annotation"], unit.release))
        namespace = unit.namespace or "default"
        for rule in mapping()["named_after_pool"]:
            old = rule["pattern"].format(pool=unit.pool, namespace=namespace)
            new = rule["pattern"].format(pool=new_name, namespace=namespace)
            for document in self.of_kind(rule["kind"], unit.documents):
                if self.name(document) != old:
                    continue
                if self._identity(unit, document)[:2] + (new,) in taken:
                    self.entry(document).assume(f"kept the name {old}: the alpha release has a {rule['kind']} {new}")
                else:
                    self._rename(document, new, unit)

    def _follow_pool_references(self, documents: list[Document]) -> None:
        """Every reference to a pool of the stream names the GA group and the pool's final name."""
        pool_kind = mapping()["pool"]["kind"]
        rules = {rule["kind"]: rule for rule in mapping()["pool_references"]}
        for document in documents:
            rule = rules.get(document.kind)
            if rule is None:
                continue
            for at, ref in list(containers(document.data, rule["ref"])):
                if ref.get("kind", pool_kind) != pool_kind:
                    continue
                unit = self._by_pool.get((ref.get("name"), ref.get("namespace") or self.namespace(document)))
                group = ref.get("group", rule["default_group"])
                if unit is None or group not in (alpha_group(), ga_group()):
                    continue
                old_name = ref.get("name")
                if document.set(at + ("group",), ga_group()):
                    self._record(document, "updated", f"{rule['ref']} group {group or '(core)'} -> {ga_group()}")
                if document.set(at + ("name",), unit.final_pool):
                    self._record(document, "updated", f"{rule['ref']} name {old_name} -> {unit.final_pool}")

    def _update_epp(self, unit: Unit) -> None:
        """The EPP's pool flags name the GA pool; an EPP too old to serve v1 pools is reported."""
        flags = mapping()["epp"]["pool_name_flags"]
        for document in self.of_kind("Deployment", unit.documents):
            for at, container in list(containers(document.data, "spec.template.spec.containers[]")):
                args = container.get("args")
                if isinstance(args, list) and _flag_value(args, flags)[1] in (unit.pool, unit.final_pool):
                    self._update_epp_container(unit, document, at, container)

    def _update_epp_container(self, unit: Unit, document: Document, at: tuple, container: dict) -> None:
        epp = mapping()["epp"]
        args = container["args"]
        changes = []
        position, value = _flag_value(args, epp["pool_name_flags"])
        if document.set(at + ("args", position), _flag_text(args[position], value, unit.final_pool)):
            changes.append(f"EPP pool name flag -> {unit.final_pool}")
        position, value = _flag_value(args, epp["pool_group_flags"])
        if position is not None and document.set(at + ("args", position), _flag_text(args[position], value, ga_group())):
            changes.append(f"--pool-group -> {ga_group()}")
        legacy = [flag for flag in epp["legacy_flags"] if flag in args]
        image = container.get("image")
        if image is not None and not isinstance(image, str):
            raise InputError(f"{where(document.index, document.source)}: the EPP container's image is {image!r}, "
                             "not a string; quote it")
        tag = _image_version(image or "")
        if legacy or (tag is not None and tag < type(tag).parse(epp["ga_image_since"])):
            # it would watch v1alpha2 pools only: the converted pool would have no EPP serving it
            raise InputError(
                f"{where(document.index, document.source)}: the EPP image {container.get('image')} predates "
                f"v{epp['ga_image_since']}" + (f" (single-dash flags {', '.join(legacy)})" if legacy else "")
                + f" and cannot serve the converted v1 InferencePool {unit.final_pool}; render the GA inferencepool "
                f"chart (v{epp['ga_image_since']} or later) for this release, or set inferenceExtension.image.tag to "
                f"v{epp['ga_image_since']} or later"
            )
        if not changes:
            return
        entry = self.entry(document)
        for change in changes:
            entry.record("updated", change)

    def _grant_ga_pools(self, unit: Unit) -> None:
        """The EPP's Role (or ClusterRole) may read GA pools."""
        rule = mapping()["epp"]["rbac_rule"]
        for kind in ("Role", "ClusterRole"):
            for document in self.of_kind(kind, unit.documents):
                if not document.contains("inferencepools"):
                    continue
                rules = document.data.get("rules")
                if not isinstance(rules, list):
                    continue
                _check_rules(document, rules)
                if any(_grants(r, rule) for r in rules):
                    continue
                document.rewrite(lambda role: role["rules"].append(copy.deepcopy(rule)))
                self._record(
                    document, "updated", f"rule added: {', '.join(rule['verbs'])} {rule['resources'][0]} in {ga_group()}"
                )

    # -- names the alpha release already has -------------------------------------------------------------
    def _identity(self, unit: Unit, document: Document) -> Identity:
        """(kind, namespace or None when cluster-scoped, name) as the API server tells objects apart."""
        kind = document.kind
        scoped = kind in mapping()["cluster_scoped_kinds"]
        return kind, None if scoped else (self.namespace(document) or unit.namespace or "default"), self.name(document)

    def alpha_names(self, unit: Unit, alpha_pool: str, alpha_namespace: str | None) -> set[Identity]:
        """The identities the alpha release's objects have: the chart's own name patterns evaluated for the
        alpha release name, for every object of this release (computed before anything is renamed)."""
        ga_ns = unit.namespace or "default"
        alpha_ns = alpha_namespace or ga_ns
        taken = set()
        for document in unit.documents:
            kind, ns, name = self._identity(unit, document)
            alpha_name = _template(unit, name, ga_ns, alpha_pool, alpha_ns)
            if alpha_name is not None:
                taken.add((kind, None if ns is None else alpha_ns, alpha_name))
        return taken

    def _avoid_alpha_names(self, unit: Unit, taken: set[Identity], alpha_pool: str) -> None:
        """No object of this release may take the kind, namespace and name of an alpha release object."""
        for document in unit.documents:
            kind, ns, name = self._identity(unit, document)
            if (kind, ns, name) not in taken:
                continue
            new = with_suffix(name)
            while (kind, ns, new) in taken:
                new = with_suffix(new)
            self._rename(document, new, unit, reason=f"the alpha release {alpha_pool} has a {kind} {name}")

    def _rename(self, document: Document, new: str, unit: Unit, reason: str | None = None) -> None:
        kind, old = document.kind, self.name(document)
        document.set(("metadata", "name"), new)
        document.name = new
        self._record(document, "renamed", f"name {old} -> {new}" + (f" ({reason})" if reason else ""))
        for reference in mapping()["name_references"].get(kind, []):
            for referrer in self.of_kind(reference["kind"], unit.documents + [unit.document]):
                for at, value in list(slots(referrer.data, reference["path"])):
                    if value == old and referrer.set(at, new):
                        self._record(referrer, "updated", f"{reference['path']} {old} -> {new}")


def _annotate(obj: dict, key: str, value: str) -> None:
    metadata = obj["metadata"]
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = type(metadata)()
    metadata["annotations"][key] = value


def _template(unit: Unit, name: str, ga_ns: str, alpha_pool: str, alpha_ns: str) -> str | None:
    """The name the same chart template gives the alpha release's object, or None if `name` is not derived."""
    if name.endswith(RENAME_SUFFIX):  # renamed by an earlier run: its alpha twin is its original's
        original = _template(unit, name[: -len(RENAME_SUFFIX)], ga_ns, alpha_pool, alpha_ns)
        if original is not None:
            return original
    if name == unit.pool:
        return alpha_pool
    if name == f"{ga_ns}-{unit.pool}":
        return f"{alpha_ns}-{alpha_pool}"
    own_epp = epp_name(unit.release)
    if name.startswith(own_epp):
        return epp_name(alpha_pool) + name[len(own_epp) :]
    return None


def _flag_value(args: list, flags: list[str]) -> tuple[int | None, Any]:
    """(index of the argument that holds the value, the value) for `--flag value` or `--flag=value`."""
    for position, arg in enumerate(args):
        text = str(arg)
        for flag in flags:
            if text == flag and position + 1 < len(args):
                return position + 1, args[position + 1]
            if text.startswith(flag + "="):
                return position, text[len(flag) + 1 :]
    return None, None


def _flag_text(arg: Any, old_value: Any, new_value: str) -> str:
    """The argument with its value replaced, in the same form (`value` or `--flag=value`)."""
    text = str(arg)
    return new_value if text == str(old_value) else text[: len(text) - len(str(old_value))] + new_value


def _image_version(image: str):
    import semver

    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    try:
        return semver.Version.parse(tag.removeprefix("v"))
    except ValueError:
        return None


def _check_rules(document: Document, rules: list) -> None:
    """A PolicyRule's lists are lists of strings; anything else is the chart's mistake, named by its path."""
    for number, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise InputError(f"{where(document.index, document.source)}: rules[{number}] is not a mapping")
        for field_name in ("apiGroups", "resources", "verbs"):
            value = rule.get(field_name)
            if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise InputError(f"{where(document.index, document.source)}: rules[{number}].{field_name} is "
                                 f"{value!r}, not a list of strings")


def _grants(existing: Any, wanted: dict) -> bool:
    if not isinstance(existing, dict):
        return False
    resources, verbs = existing.get("resources") or [], existing.get("verbs") or []
    return (
        set(wanted["apiGroups"]) <= set(existing.get("apiGroups") or [])
        and (set(wanted["resources"]) <= set(resources) or "*" in resources)
        and (set(wanted["verbs"]) <= set(verbs) or "*" in verbs)
    )

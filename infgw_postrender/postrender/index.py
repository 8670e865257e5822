"""The stream's documents indexed once by kind and by name, and each InferencePool grouped with the objects the
chart derived from its release name, so that the work per pool does not grow with the stream."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from typing import Any

from infgw_postrender.api.mapping import api
from infgw_postrender.api.names import epp_name
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.report import Entry, Report
from infgw_postrender.postrender.stream import Document

Identity = tuple[str, "str | None", str]  # kind, namespace (None when cluster-scoped), name


class PoolGroup:
    """One InferencePool of the stream and the objects the chart derived from its release name. Not a dataclass:
    creating one costs every start half a millisecond, and one group is itself (identity, not equal fields)."""

    __slots__ = ("document", "pool", "namespace", "epp", "documents", "new_pool", "helm_release", "epp_image")

    def __init__(self, document: Document, pool: str, namespace: str | None, epp: str | None) -> None:
        self.document = document
        self.pool = pool  # the pool's name as rendered: the release name
        self.namespace = namespace
        self.epp = epp  # the EPP Service the pool points at
        self.documents: list[Document] = []
        self.new_pool: str | None = None
        self.helm_release = ""  # the pool's first name, kept in an annotation once the pool is renamed
        # (Deployment, image) of the first container with a pool flag: the EPP, as the rewrites found it
        self.epp_image: tuple[Document, Any] | None = None

    @property
    def final_pool(self) -> str:
        return self.new_pool or self.pool

    @property
    def own(self) -> list[Document]:
        """The group's documents and the pool itself."""
        return self.documents + [self.document]


class Index:
    """The documents by kind and by name, the pool groups, and the report that the rewrites record into."""

    def __init__(self, documents: list[Document], report: Report) -> None:
        self.documents = documents
        self.report = report
        self.by_kind: dict[str, list[Document]] = {}
        self._sorted_names: list[tuple[str, int]] = []
        for document in documents:
            document.check_aliases()
            if document.identify():
                self.by_kind.setdefault(document.kind, []).append(document)
                if document.name:
                    self._sorted_names.append((document.name, document.index))
        self._sorted_names.sort()
        self.groups = [self._group(document) for document in self.by_kind.get(api().pool.kind, [])]
        self.by_pool: dict[tuple[str, str | None], PoolGroup] = {}

    def of_kind(self, kind: str, within: list[Document] | None = None) -> list[Document]:
        if within is None:
            return self.by_kind.get(kind, [])
        return [document for document in within if document.kind == kind]

    def entry(self, document: Document) -> Entry:
        return self.report.entry(document.index, document.kind, document.name or "", document.namespace)

    def record(self, document: Document, action: str, change: str) -> None:
        self.entry(document).record(action, change)

    def identity(self, group: PoolGroup, document: Document) -> Identity:
        """(kind, namespace or None when cluster-scoped, name) as the API server tells objects apart."""
        return next(self.identities(group, (document,)))

    def identities(self, group: PoolGroup, documents: Iterable[Document]) -> Iterator[Identity]:
        """identity() of each document in turn, the table looked up once (a group's objects: issue 33)."""
        scoped_kinds, default = api().cluster_scoped_kinds, group.namespace or "default"
        for document in documents:
            kind = document.kind
            yield kind, None if kind in scoped_kinds else (document.namespace or default), document.name or ""

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

    def _group(self, document: Document) -> PoolGroup:
        picker = document.peek("spec", "endpointPickerRef", "name") or document.peek("spec", "extensionRef", "name")
        if picker is None:  # not in the plain layout: parse, and drop the tree until the pool is processed
            spec = document.data.get("spec")
            ref = (spec.get("endpointPickerRef") or spec.get("extensionRef")) if isinstance(spec, dict) else None
            picker = ref.get("name") if isinstance(ref, dict) else None
            if picker is not None and not isinstance(picker, str):
                field_name = "endpointPickerRef" if "endpointPickerRef" in spec else "extensionRef"
                raise InputError(
                    f"{where(document.index, document.source)}: spec.{field_name}.name is {picker!r}, "
                    "not a string; quote it"
                )
            document.forget()
        if not document.name:
            raise InputError(
                f"{where(document.index, document.source)}: an InferencePool without metadata.name; "
                "the chart names it after the release"
            )
        group = PoolGroup(document, document.name, document.namespace, picker)
        group.helm_release = document.peek("metadata", "annotations", api().release_annotation) or group.pool
        namespace = group.namespace or "default"
        derived = self._named(group.pool) + self._named(f"{namespace}-{group.pool}")
        derived += self._named(epp_name(group.helm_release), prefix=True)
        if group.epp and group.epp != epp_name(group.helm_release):
            derived += self._named(group.epp, prefix=True)
        seen = {document.index}
        for candidate in sorted(derived, key=lambda d: d.index):
            if candidate.index not in seen:
                seen.add(candidate.index)
                group.documents.append(candidate)
        return group

    def select(self, release: str | None, needed_by: str) -> PoolGroup:
        """The pool that per-pool flags act on."""
        if release:
            for group in self.groups:
                if release in (group.pool, group.final_pool, group.helm_release) or group.epp == epp_name(release):
                    return group
            raise InputError(
                f"--release {release}: no InferencePool of that release in the stream "
                f"(pools: {', '.join(g.pool for g in self.groups) or 'none'}); name the release being rendered"
            )
        if len(self.groups) == 1:
            return self.groups[0]
        if not self.groups:
            raise InputError(f"{needed_by}: the stream has no InferencePool; render the inferencepool chart")
        raise InputError(
            f"{needed_by}: the stream has {len(self.groups)} InferencePools "
            f"({', '.join(g.pool for g in self.groups[:5])}{', ...' if len(self.groups) > 5 else ''}); "
            "pick one with --release NAME, or use {release} in the flag values to act on every pool"
        )

    def plan(self, new_names: dict[int, str]) -> None:
        """Decide every pool's final name before any document changes (by pool document index)."""
        for group in self.groups:
            new_name = new_names.get(group.document.index)
            if new_name and new_name != group.pool:
                group.new_pool = new_name
        claimed = {document.index for group in self.groups for document in group.own}
        for group in self.groups:
            if group.new_pool:  # what the chart named after the new name is the release's too, as a re-run finds
                namespace = group.namespace or "default"
                for document in self._named(group.new_pool) + self._named(f"{namespace}-{group.new_pool}"):
                    if document.index not in claimed:
                        claimed.add(document.index)
                        group.documents.append(document)
        del self._sorted_names  # only needed to find each release's documents
        self.by_pool = {(group.pool, group.namespace): group for group in self.groups}
        self.by_pool.update({(group.final_pool, group.namespace): group for group in self.groups})

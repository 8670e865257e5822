"""Names: the pool takes its new name and the objects named after it follow; no object may take the kind,
namespace and name of an alpha release object (the chart's own name patterns, evaluated for the alpha release)."""

from __future__ import annotations

from collections.abc import Callable

from infgw_postrender.api.mapping import api
from infgw_postrender.api.names import RENAME_SUFFIX, epp_name, with_suffix
from infgw_postrender.api.paths import slots
from infgw_postrender.postrender.index import Identity, Index, PoolGroup
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.stream import Document


def rename_pool(job: Job) -> None:
    """Rename the pool; objects named after it follow unless the alpha release already has that name."""
    group, index = job.group, job.index
    if not group.new_pool:
        return
    new_name = group.final_pool
    rename(index, group, group.document, new_name)
    # a later run reads the release from here: {release} in its flags must mean the same release again
    key = api().release_annotation
    # as charts render metadata, a line spliced in, no parse (one a release, issue 33)
    if group.document.add_entry(("metadata", "annotations", key), group.helm_release) is None:
        annotations = group.document.data["metadata"].get("annotations")
        if not (isinstance(annotations, dict) and key in annotations):
            group.document.rewrite(("metadata",), lambda pool: _annotate(pool, key, group.helm_release))
    namespace = group.namespace or "default"
    for rule in api().named_after_pool:
        old = rule.pattern.format(pool=group.pool, namespace=namespace)
        new = rule.pattern.format(pool=new_name, namespace=namespace)
        for document in index.of_kind(rule.kind, group.documents):
            if document.name != old:
                continue
            if index.identity(group, document)[:2] + (new,) in job.alpha_names:
                index.entry(document).assume(f"kept the name {old}: the alpha release has a {rule.kind} {new}")
            else:
                rename(index, group, document, new)


def avoid_alpha_names(job: Job) -> None:
    """No object of this release may take the kind, namespace and name of an alpha release object."""
    taken = job.alpha_names
    documents = job.group.documents
    for document, (kind, namespace, name) in zip(documents, job.index.identities(job.group, documents), strict=True):
        if (kind, namespace, name) not in taken:
            continue
        new = with_suffix(name)
        while (kind, namespace, new) in taken:
            new = with_suffix(new)
        rename(job.index, job.group, document, new, reason=f"the alpha release {job.alpha_pool} has a {kind} {name}")


def alpha_names(index: Index, group: PoolGroup, alpha_pool: str, alpha_namespace: str | None) -> frozenset[Identity]:
    """The identities the alpha release's objects have: the chart's own name patterns evaluated for the
    alpha release name, for every object of this release (computed before anything is renamed)."""
    ga_ns = group.namespace or "default"
    alpha_ns = alpha_namespace or ga_ns
    templates = _templates(group, ga_ns, alpha_pool, alpha_ns)
    taken: set[Identity] = set()
    for kind, namespace, name in index.identities(group, group.documents):
        scoped = None if namespace is None else alpha_ns
        for alpha_name in templates(name):
            taken.add((kind, scoped, alpha_name))
    return frozenset(taken)


def rename(index: Index, group: PoolGroup, document: Document, new: str, reason: str | None = None) -> None:
    """Rename one object, and every reference to it within the group (mapping.yaml's name_references)."""
    kind, old = document.kind, document.name or ""
    document.set(("metadata", "name"), new)
    document.name = new
    index.record(document, "renamed", f"name {old} -> {new}" + (f" ({reason})" if reason else ""))
    for reference in api().name_references.get(kind, []):
        for referrer in index.of_kind(reference.kind, group.own):
            for at, value in list(slots(referrer.data, reference.path)):
                if value == old and referrer.set(at, new):
                    index.record(referrer, "updated", f"{reference.path} {old} -> {new}")


def _annotate(obj: dict, key: str, value: str) -> None:
    metadata = obj["metadata"]
    if not isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = type(metadata)()
    metadata["annotations"][key] = value


def _templates(group: PoolGroup, ga_ns: str, alpha_pool: str, alpha_ns: str) -> Callable[[str], list[str]]:
    """`templates(name)`: the names the chart templates that could have given `name` give the alpha release's
    object: none if `name` is not derived, two when it fits two (a pool named like its EPP: its EPP's objects are
    named after both). The group's own names are worked out once, not per object (issue 33)."""
    pools = (group.pool, group.final_pool)
    namespaced = (f"{ga_ns}-{group.pool}", f"{ga_ns}-{group.final_pool}")
    # the chart names the EPP after the release; a pool that names another EPP brought that one's objects along
    own_epps = [own_epp for own_epp in dict.fromkeys((epp_name(group.helm_release), group.epp or "")) if own_epp]
    alpha_epp = epp_name(alpha_pool)

    def derived(name: str) -> list[str]:
        found = []
        if name in pools:
            found.append(alpha_pool)
        if name in namespaced:
            found.append(f"{alpha_ns}-{alpha_pool}")
        for own_epp in own_epps:
            if name.startswith(own_epp):
                found.append(alpha_epp + name[len(own_epp) :])
                break
        return found

    def templates(name: str) -> list[str]:
        if not name.endswith(RENAME_SUFFIX):
            return derived(name)
        # renamed by earlier runs (`-ga`, `-ga-ga`): its alpha twin is its original's, the first name it had
        names = [name]
        while names[-1].endswith(RENAME_SUFFIX):
            names.append(names[-1][: -len(RENAME_SUFFIX)])
        return next((found for found in map(derived, reversed(names)) if found), [])

    return templates

"""The alpha -> GA mapping: mapping.yaml beside this module, read once into a typed, frozen view (`api()`).

The YAML says where each fact comes from upstream; this module only gives it types, so that a misspelt field is an
AttributeError at the first test rather than a KeyError in a user's run. Names of CRDs are written once, under
cluster.resources; the lists of CRDs refer to them by key.
"""

import os
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple


class Groups(NamedTuple):
    alpha: str
    ga: str


class PoolApi(NamedTuple):
    kind: str
    alpha_api_version: str
    ga_api_version: str
    epp_default_port: int
    reasons: Mapping[str, str]


class ObjectiveApi(NamedTuple):
    api_version: str
    kind: str
    priorities: Mapping[str, int]
    sheddable_since: str
    unset_criticality: str
    header: str


class ModelRewriteApi(NamedTuple):
    api_version: str
    kind: str
    since: str


class AlphaModelApi(NamedTuple):
    api_version: str
    kind: str


class RouteApi(NamedTuple):
    api_version: str
    kind: str
    gateway_group: str
    max_rules: int


class BodyBasedRouting(NamedTuple):
    model_header: str
    image: str


class PoolReference(NamedTuple):
    kind: str
    ref: str
    default_group: str


class NamedAfterPool(NamedTuple):
    kind: str
    pattern: str


class NameReference(NamedTuple):
    kind: str
    path: str


class PolicyRule(NamedTuple):
    apiGroups: tuple[str, ...]  # noqa: N815 (the Kubernetes field names)
    resources: tuple[str, ...]  # noqa: N815
    verbs: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"apiGroups": list(self.apiGroups), "resources": list(self.resources), "verbs": list(self.verbs)}


class Epp(NamedTuple):
    pool_name_flags: tuple[str, ...]
    pool_namespace_flags: tuple[str, ...]
    pool_group_flags: tuple[str, ...]
    legacy_flags: tuple[str, ...]
    ga_image_since: str
    grpc_port_name: str
    containers_path: str
    rbac_rule: PolicyRule


class Resources(NamedTuple):
    """What the cluster commands read, by CRD name (plural.group); also, in Cluster.versions, the version kubectl
    is given each in (Cluster.qualified)."""

    alpha_pool: str
    alpha_model: str
    ga_pool: str
    objective: str
    model_rewrite: str
    route: str
    gateway: str
    crd: str
    deployment: str


class CrdOwner(NamedTuple):
    owner: str
    label: str | None = None
    value: str | None = None
    annotation: str | None = None


class CrdFile(NamedTuple):
    path: str
    defines: tuple[str, ...]  # keys of Resources, resolved to CRD names by Cluster.crd_files


class Cluster(NamedTuple):
    resources: Resources
    versions: Resources  # the version of each, for kubectl: a missing one fails as mapping.yaml is read
    chart_name: str
    inference_crds: tuple[str, ...]  # keys of Resources
    alpha_crds: tuple[str, ...]  # keys of Resources
    crd_owners: tuple[CrdOwner, ...]
    gke_serves_ga_pool_since: str
    crd_source: str
    crd_files: Mapping[str, CrdFile]
    crd_pins: Mapping[str, Mapping[str, str]]

    def qualified(self, name: str) -> str:
        """kubectl's fully qualified name (plural.version.group) for a resource of `resources`; others as given."""
        for resource, version in zip(self.resources, self.versions):
            if resource == name:
                plural, _, group = name.partition(".")
                return f"{plural}.{version}.{group}"
        return name

    def crd_names(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(getattr(self.resources, key) for key in keys)

    @property
    def inference_crd_names(self) -> tuple[str, ...]:
        return self.crd_names(self.inference_crds)

    @property
    def alpha_crd_names(self) -> tuple[str, ...]:
        return self.crd_names(self.alpha_crds)

    def defined_by(self, file_key: str) -> tuple[str, ...]:
        """The CRD names a CRD file of mapping.yaml defines."""
        return self.crd_names(self.crd_files[file_key].defines)


class Api(NamedTuple):
    groups: Groups
    pool: PoolApi
    objective: ObjectiveApi
    model_rewrite: ModelRewriteApi
    alpha_model: AlphaModelApi
    route: RouteApi
    body_based_routing: BodyBasedRouting
    pool_references: tuple[PoolReference, ...]
    named_after_pool: tuple[NamedAfterPool, ...]
    name_references: Mapping[str, tuple[NameReference, ...]]
    epp: Epp
    cluster_scoped_kinds: frozenset[str]
    server_owned_metadata: tuple[str, ...]
    last_applied_annotation: str
    generated_annotation: str
    release_annotation: str
    cluster: Cluster


@lru_cache(maxsize=1)
def api() -> Api:
    from infgw_postrender.yaml import reader

    # a plain path, not importlib.resources: that import alone costs more than reading the file (start-up time)
    with open(os.path.join(os.path.dirname(__file__), "mapping.yaml"), encoding="utf-8") as handle:
        value, _ = reader.parse(handle.read())
    return _build(Api, value, "mapping.yaml")


def alpha_group() -> str:
    return api().groups.alpha


def ga_group() -> str:
    return api().groups.ga


def _build(kind: Any, value: Any, where: str) -> Any:
    """`value` (plain YAML) as the type `kind`: dataclasses by field, tuples, frozensets, read-only mappings."""
    origin = typing.get_origin(kind)
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        # the annotations are the types themselves (no `from __future__ import annotations` here): no
        # typing.get_type_hints, which costs start-up time
        hints = kind.__annotations__
        unknown = set(value) - set(hints)
        if unknown:
            raise TypeError(f"{where}: unknown fields {sorted(unknown)}")
        return kind(**{name: _build(hints[name], value[name], f"{where}.{name}") for name in hints if name in value})
    if origin is tuple:
        return tuple(_build(typing.get_args(kind)[0], item, where) for item in value)
    if origin is frozenset:
        return frozenset(value)
    if origin is Mapping:
        item_kind = typing.get_args(kind)[1]
        return types.MappingProxyType({key: _build(item_kind, item, f"{where}.{key}") for key, item in (value or {}).items()})
    return value

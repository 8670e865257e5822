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
    kind: str
    priorities: Mapping[str, int]
    sheddable_since: str
    unset_criticality: str
    header: str


class ModelRewriteApi(NamedTuple):
    kind: str


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


class HealthCheck(NamedTuple):
    kind: str
    config_path: str
    port_specification: str


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


class EppMetrics(NamedTuple):
    """Each metric the analysis reads, by every name an EPP release exports it under."""

    request_total: tuple[str, ...]
    request_error_total: tuple[str, ...]
    request_duration_bucket: tuple[str, ...]
    ready_pods: tuple[str, ...]


class Epp(NamedTuple):
    pool_name_flags: tuple[str, ...]
    pool_namespace_flags: tuple[str, ...]
    pool_group_flags: tuple[str, ...]
    legacy_flags: tuple[str, ...]
    ga_image_since: str
    grpc_port_name: str
    containers_path: str
    rbac_rule: PolicyRule
    metrics: EppMetrics


class Resources(NamedTuple):
    """What the cluster commands read, by CRD name (plural.group); also, in Cluster.versions, the version kubectl
    is given each in (Cluster.qualified)."""

    alpha_pool: str
    alpha_model: str
    ga_pool: str
    objective: str
    model_rewrite: str
    llmd_objective: str
    llmd_model_rewrite: str
    pool_import: str
    route: str
    gateway: str
    gateway_class: str
    crd: str
    deployment: str
    service: str


class CrdOwner(NamedTuple):
    owner: str
    label: str | None = None
    value: str | None = None
    annotation: str | None = None


class Cluster(NamedTuple):
    gke_gateway_controller: str
    resources: Resources
    versions: Resources  # the version of each, for kubectl: a missing one fails as mapping.yaml is read
    inference_crds: tuple[str, ...]  # keys of Resources
    alpha_crds: tuple[str, ...]  # keys of Resources
    read_together: Mapping[str, str]  # key of Resources -> the kind of its objects
    crd_owners: tuple[CrdOwner, ...]
    gke_serves_ga_pool_since: str
    crd_pins: Mapping[str, Mapping[str, str]]

    def qualified(self, name: str) -> str:
        """kubectl's fully qualified name (plural.version.group) for a resource of `resources`; others as given."""
        for resource, version in zip(self.resources, self.versions, strict=True):
            if resource == name:
                plural, _, group = name.partition(".")
                return f"{plural}.{version}.{group}" if group else plural
        return name

    def crd_names(self, keys: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(getattr(self.resources, key) for key in keys)

    def api_version(self, key: str) -> str:
        """The apiVersion of the objects of a resource (a key of `resources`): its group and kubectl's version."""
        group = getattr(self.resources, key).partition(".")[2]
        return f"{group}/{getattr(self.versions, key)}" if group else getattr(self.versions, key)

    @property
    def inference_crd_names(self) -> tuple[str, ...]:
        return self.crd_names(self.inference_crds)

    @property
    def alpha_crd_names(self) -> tuple[str, ...]:
        return self.crd_names(self.alpha_crds)


class ReleaseRow(NamedTuple):
    """What the releases of a project from `since` on ship and read (keys of Resources)."""

    since: str
    objective: str | None = None  # the InferenceObjective CRD its EPP reads; None: the release has none
    model_rewrite: str | None = None  # the InferenceModelRewrite CRD its EPP acts on; None: none
    rewrite_targets: str | None = None  # the rule field that lists the weighted models
    bundle: tuple[str, ...] = ()  # what the release's bundle defines (its pins say so where it is pinned)
    chart: bool = True  # whether the release publishes its chart


class GkeCrds(NamedTuple):
    since: str
    crds: tuple[str, ...]


class Chart(NamedTuple):
    name: str
    ref: str
    selector_value: str  # `--set` prefix of the pool's matchLabels
    port_value: str  # `--set` path of the pool's target port
    gke_crds: tuple[GkeCrds, ...] = ()  # what the chart renders with provider.name=gke, by the release it starts at


class Project(NamedTuple):
    project: str
    prefix: str  # a target of this project is the prefix and a version
    default: str  # the version a chart of this project is installed at unless told
    source: str
    epp_images: tuple[str, ...]
    files: Mapping[str, str]  # bundle, objective, model_rewrite (a row's CRD of that role): paths below source
    chart: Chart
    rows: tuple[ReleaseRow, ...]
    pool_from: str | None = None  # a GIE target whose bundle holds the pool CRD (a project without a bundle)


class Api(NamedTuple):
    groups: Groups
    pool: PoolApi
    objective: ObjectiveApi
    model_rewrite: ModelRewriteApi
    alpha_model: AlphaModelApi
    route: RouteApi
    body_based_routing: BodyBasedRouting
    health_check: HealthCheck
    pool_references: tuple[PoolReference, ...]
    named_after_pool: tuple[NamedAfterPool, ...]
    name_references: Mapping[str, tuple[NameReference, ...]]
    epp: Epp
    cluster_scoped_kinds: frozenset[str]
    server_owned_metadata: tuple[str, ...]
    last_applied_annotation: str
    generated_annotation: str
    release_annotation: str
    analysis_annotation: str
    releases: tuple[Project, ...]
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
        return types.MappingProxyType(
            {key: _build(item_kind, item, f"{where}.{key}") for key, item in (value or {}).items()}
        )
    return value

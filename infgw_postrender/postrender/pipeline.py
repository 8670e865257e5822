"""One post-render: read the stream, convert the GA release(s) in it, generate what was asked for."""

from __future__ import annotations

from typing import NamedTuple, TextIO

from infgw_postrender import defaults
from infgw_postrender.api.mapping import api
from infgw_postrender.api.names import TEMPLATE, check_label, check_weight
from infgw_postrender.api.objects import pool_of_model
from infgw_postrender.api.releases import Target, parse_target
from infgw_postrender.errors import InputError
from infgw_postrender.postrender.index import Index
from infgw_postrender.postrender.objectives import (
    Generated,
    from_flag,
    from_model,
    parse_objective_flag,
    parse_priority_map,
)
from infgw_postrender.postrender.report import Report
from infgw_postrender.postrender.rewrites import forget_group, rewrite_group, rewrite_others
from infgw_postrender.postrender.route import new_route, rewrite_route
from infgw_postrender.postrender.stream import Document, join, new_document, split, write
from infgw_postrender.postrender.target import group_target
from infgw_postrender.yaml import emitter
from infgw_postrender.yaml.roundtrip import load_file_documents, plain


class Options(NamedTuple):
    """What a post-render is asked for: the post-renderer's flags. A NamedTuple, not a dataclass: the dataclasses
    module (and the inspect module it imports) is a tenth of the post-renderer's start (issue 33)."""

    pool_name: str | None = None
    release: str | None = None
    alpha_pool: str | None = None
    alpha_namespace: str | None = None
    ga_weight: int | None = None
    route_name: str = defaults.ROUTE
    gateway: str = defaults.GATEWAY
    route_from: str | None = None
    objectives: tuple[str, ...] = ()
    objectives_from: str | None = None
    priority_map: str | None = None
    target_version: str = defaults.TARGET_VERSION
    model_routing: bool = False

    @property
    def templated(self) -> bool:
        """Per-pool values with {release} act on every pool of the stream (umbrella charts)."""
        values = [self.pool_name, self.alpha_pool, self.route_name, *self.objectives]
        return any(TEMPLATE in value for value in values if value)

    def for_release(self, release: str) -> Options:
        def fill(value: str | None) -> str | None:
            return value.replace(TEMPLATE, release) if value else value

        return self._replace(
            pool_name=fill(self.pool_name),
            alpha_pool=fill(self.alpha_pool),
            route_name=self.route_name.replace(TEMPLATE, release),
            objectives=tuple(item.replace(TEMPLATE, release) for item in self.objectives),
        )

    def check(self) -> None:
        """Every flag value, before any document is read (templates checked as if the release were `x`)."""
        filled = self.for_release("x")
        for flag, value in (
            ("--pool-name", filled.pool_name),
            ("--release", self.release),
            ("--alpha-pool", filled.alpha_pool),
            ("--alpha-namespace", self.alpha_namespace),
            ("--route-name", filled.route_name),
        ):
            if value is not None:
                check_label(value, flag)
        gateway, _, gateway_ns = self.gateway.partition("/")
        check_label(gateway, "--gateway")
        if gateway_ns:
            check_label(gateway_ns, "--gateway namespace")
        for item in filled.objectives:
            parse_objective_flag(item)
        if self.ga_weight is not None:
            check_weight(self.ga_weight)
            if not self.alpha_pool:
                raise InputError("--ga-weight: needs --alpha-pool NAME, the pool that keeps the rest of the traffic")
        if self.route_from and self.ga_weight is None:
            raise InputError("--route-from: needs --ga-weight N (0 to 100) and --alpha-pool NAME")
        if self.route_from and self.templated:
            raise InputError("--route-from: names one HTTPRoute, so it cannot be combined with {release} templates")
        if self.model_routing and (self.ga_weight is None or not self.objectives_from or self.route_from):
            raise InputError(
                "--model-routing: adds a rule per model to the route that --ga-weight generates, from the "
                "InferenceModels of --objectives-from; pass both (and not --route-from)"
            )


class Result:
    __slots__ = ("documents", "report", "routes")

    def __init__(self, documents: list[Document], report: Report, routes: list[dict]) -> None:
        self.documents, self.report = documents, report
        self.routes = routes  # the routes generated (--ga-weight), for a check on a cluster

    def text(self) -> str:
        return join(self.documents)

    def write(self, out: TextIO) -> None:
        write(self.documents, out)


def post_render(text: str, options: Options) -> Result:
    """Convert a rendered stream. Raises InputError (nothing is written) on bad input."""
    return post_render_documents(split(text), options)


def post_render_documents(documents: list[Document], options: Options) -> Result:
    """Convert a stream already split into documents."""
    options.check()
    report = Report()
    priorities = parse_priority_map(options.priority_map)
    target = parse_target(options.target_version)
    models = _models(options.objectives_from) if options.objectives_from else []
    route_source = _route_source(options.route_from) if options.route_from else None

    routes = _convert(documents, options, report, models, route_source, priorities, target)
    return Result(documents, report, routes)


def _convert(
    documents: list[Document],
    options: Options,
    report: Report,
    models: list[dict],
    route_source: dict | None,
    priorities: dict[str, int],
    asked: Target,
) -> list[dict]:
    """The stream converted in place; the routes generated."""
    documents[:] = [document for document in documents if not _generated_earlier(document)]
    for position, document in enumerate(documents):
        document.index = position  # indexes stay positions once an earlier run's objects are dropped
    index = Index(documents, report)
    needs_pool = _per_pool_flag(options)
    if not needs_pool:
        targets = {}
    elif options.templated and not options.release:
        if not index.groups:
            raise InputError(f"{needs_pool}: the stream has no InferencePool; render the inferencepool chart")
        targets = {group.document.index: options.for_release(group.helm_release) for group in index.groups}
    else:
        group = index.select(options.release, needs_pool)
        targets = {group.document.index: options.for_release(group.helm_release)}

    index.plan({position: own.pool_name for position, own in targets.items() if own.pool_name})
    claimed: set[int] = set()
    routes = []
    for group in index.groups:
        own = targets.get(group.document.index)
        claimed.update(document.index for document in group.own)
        if own is None:
            rewrite_group(index, group)
            forget_group(group)
            continue
        rewrite_group(index, group, own.alpha_pool, own.alpha_namespace)
        pool, namespace = group.final_pool, group.namespace
        kept = _of_alpha_pool(models, own, namespace, report, strict=not options.templated)
        target = _objectives_target(index, group, asked, bool(own.objectives or kept))
        forget_group(group)  # only now: the target reads the EPP Deployment the rewrites parsed
        mine = [from_flag(*parse_objective_flag(item), pool, namespace, target) for item in own.objectives]
        for model in kept:
            mine += from_model(model, pool, namespace, priorities, target, options.model_routing)
        if own.ga_weight is not None:
            routed = [
                (m["spec"]["modelName"], m["metadata"]["name"])
                for m in kept
                if options.model_routing and (m.get("spec") or {}).get("modelName")
            ]
            mine.append(_route(own, route_source, pool, namespace, routed))
            routes.append(mine[-1].obj)
        append_generated(
            documents, _without_twins(mine, index), report
        )  # as text now: dicts of every pool would add up
    rewrite_others(index, claimed)
    for document in documents:
        document.settle()  # any failure now, before the first byte is written
    return routes


def _objectives_target(index: Index, group, asked: Target, objectives: bool) -> Target:
    """The target the group's objectives are written for (the stream's EPP may decide it, and the report says
    so); a target without objective APIs is refused when there are objectives to write."""
    target, why = group_target(index, group, asked)
    if why:
        index.report.notes.append(f"InferencePool {group.namespace or 'default'}/{group.final_pool}: {why}")
    if objectives and target.objective_api_version is None:
        raise InputError(
            f"--target-version {target.name}: InferenceObjectives were asked for (--objective or "
            f"--objectives-from), but {target.lacks_objectives_why()}"
        )
    return target


def _per_pool_flag(options: Options) -> str | None:
    """The first flag given that acts on one pool (for the error message), or None."""
    for flag, value in (
        ("--pool-name", options.pool_name),
        ("--alpha-pool", options.alpha_pool),
        ("--objective", options.objectives),
        ("--objectives-from", options.objectives_from),
        ("--ga-weight", options.ga_weight is not None),
    ):
        if value:
            return flag
    return None


def _generated_earlier(document: Document) -> bool:
    """A document an earlier run generated: dropped, then generated again, so that a second run is a no-op."""
    key = api().generated_annotation
    if not document.contains(key):
        return False
    annotations = (document.data.get("metadata") or {}).get("annotations") or {}
    return key in annotations


def _models(path: str) -> list[dict]:
    kind = api().alpha_model.kind
    models = [plain(item) for item in load_file_documents(path, "--objectives-from")]
    for position, item in enumerate(models):
        if not isinstance(item, dict) or item.get("kind") != kind:
            raise InputError(
                f"--objectives-from {path}: item {position} is not an InferenceModel; "
                "pass the output of `kubectl get inferencemodels.inference.networking.x-k8s.io -o yaml`"
            )
    return models


def _of_alpha_pool(
    models: list[dict], own: Options, stream_namespace: str | None, report: Report, strict: bool
) -> list[dict]:
    """The models of the alpha pool. poolRef is namespace-local: a model belongs to it only in the pool's own
    namespace (a model with no namespace is in the stream's). With `strict` (one pool, no {release} template), a
    file with models, none of them the pool's, is an error: Helm 3 hides a successful post-renderer's notes, so
    it would pass as a release without objectives."""
    alpha_namespace = own.alpha_namespace or stream_namespace
    kept, elsewhere = [], []
    for model in models:
        metadata = model.get("metadata") or {}
        namespace = metadata.get("namespace") or stream_namespace
        pool = pool_of_model(model)
        if namespace == alpha_namespace and own.alpha_pool in (None, pool):
            kept.append(model)
            continue
        elsewhere.append(f"{namespace}/{pool}")
        why = (
            f"its pool is {pool}, not --alpha-pool {own.alpha_pool}"
            if namespace == alpha_namespace
            else (
                f"it is in {namespace}, the alpha pool in {alpha_namespace} (a poolRef names a pool of its own namespace)"
            )
        )
        report.notes.append(f"InferenceModel {namespace}/{metadata.get('name')} skipped: {why}")
    if strict and models and not kept:
        raise InputError(
            f"--objectives-from {own.objectives_from}: no InferenceModel refers to the alpha pool "
            f"{alpha_namespace}/{own.alpha_pool}; its models refer to {', '.join(sorted(set(elsewhere)))}; "
            "check --alpha-pool and --alpha-namespace"
        )
    return kept


def preflight(options: Options) -> None:
    """Every check that needs no manifests: flags, and the files they name. `infgw-migrate install|upgrade|template`
    runs it before calling Helm, whose Helm 4 hides a failing post-renderer's message."""
    options.check()
    parse_priority_map(options.priority_map)
    parse_target(options.target_version)
    if options.objectives_from:
        _models(options.objectives_from)
    if options.route_from:
        _route_source(options.route_from)


def _route_source(path: str) -> dict:
    items = [plain(item) for item in load_file_documents(path, "--route-from")]
    routes = [item for item in items if isinstance(item, dict) and item.get("kind") == api().route.kind]
    if len(routes) != 1:
        raise InputError(f"--route-from {path}: expected exactly one HTTPRoute, found {len(routes)}")
    return routes[0]


def _route(
    options: Options, source: dict | None, pool: str, namespace: str | None, models: list[tuple[str, str]]
) -> Generated:
    # only for --ga-weight, which needs --alpha-pool (Options.check)
    assert options.alpha_pool is not None and options.ga_weight is not None
    if source is not None:
        return rewrite_route(source, f"--route-from {options.route_from}", options.alpha_pool, pool, options.ga_weight)
    gateway, _, gateway_ns = options.gateway.partition("/")
    return new_route(
        options.route_name, namespace, gateway, gateway_ns or None, options.alpha_pool, pool, options.ga_weight, models
    )


def _without_twins(generated: list[Generated], index: Index) -> list[Generated]:
    """A chart's own object wins over a generated one of the same kind and name (v1.5.0 renders objectives)."""
    present: set[tuple[str, str]] = set()
    for kind in (api().objective.kind, api().model_rewrite.kind):
        present.update((kind, document.name or "") for document in index.of_kind(kind))
    kept, seen = [], set()
    for item in generated:
        key = (item.obj["kind"], item.obj["metadata"]["name"])
        if key in present:
            index.report.notes.append(f"{key[0]} {key[1]}: the chart renders it already; kept the chart's")
        elif key in seen:
            raise InputError(f"{key[0]} {key[1]}: asked for twice (--objective and --objectives-from); give it once")
        else:
            seen.add(key)
            kept.append(item)
    return kept


def append_generated(documents: list[Document], generated: list[Generated], report: Report) -> None:
    key = api().generated_annotation
    for item in generated:
        metadata = item.obj["metadata"]
        metadata.setdefault("annotations", {})[key] = "true"
        ends_line = not documents or documents[-1].text().endswith("\n")
        document = new_document(len(documents), emitter.dump(item.obj), "---\n" if ends_line else "\n---\n")
        documents.append(document)
        entry = report.entry(document.index, item.obj["kind"], metadata["name"], metadata.get("namespace"))
        for change in item.changes or ["generated"]:
            entry.record("generated", change)
        entry.assume(*item.assumed)
        entry.lose(*item.not_carried_over)

"""The post-renderer: rendered manifests on stdin, the GA stack on stdout, the report on stderr."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import click

from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.mapping import mapping
from infgw_postrender.names import check_label
from infgw_postrender.objectives import (
    Generated,
    from_flag,
    from_model,
    parse_objective_flag,
    parse_priority_map,
    target_has_rewrites,
)
from infgw_postrender.release import GaRelease
from infgw_postrender.report import Report
from infgw_postrender.route import check_weight, new_route, rewrite_route
from infgw_postrender.stream import Document, join, new_document, split
from infgw_postrender.yamlio import load_file_documents


@dataclass
class Options:
    pool_name: str | None = None
    release: str | None = None
    alpha_pool: str | None = None
    alpha_namespace: str | None = None
    ga_weight: int | None = None
    route_name: str = "llm-route"
    gateway: str = "inference-gateway"
    route_from: str | None = None
    objectives: list[str] = field(default_factory=list)
    objectives_from: str | None = None
    priority_map: str | None = None
    target_version: str = "v1.0.0"

    def check(self) -> None:
        """Every flag value, before any document is read."""
        for flag, value in (
            ("--pool-name", self.pool_name),
            ("--release", self.release),
            ("--alpha-pool", self.alpha_pool),
            ("--alpha-namespace", self.alpha_namespace),
            ("--route-name", self.route_name),
        ):
            if value is not None:
                check_label(value, flag)
        gateway, _, gateway_ns = self.gateway.partition("/")
        check_label(gateway, "--gateway")
        if gateway_ns:
            check_label(gateway_ns, "--gateway namespace")
        if self.ga_weight is not None:
            check_weight(self.ga_weight)
            if not self.alpha_pool:
                raise InputError("--ga-weight: needs --alpha-pool NAME, the pool that keeps the rest of the traffic")
        if self.route_from and self.ga_weight is None:
            raise InputError("--route-from: needs --ga-weight N (0 to 100) and --alpha-pool NAME")


def post_render(text: str, options: Options) -> tuple[str, Report]:
    """Convert a rendered stream. Raises InputError (nothing is written) on bad input."""
    options.check()
    report = Report()
    priorities = parse_priority_map(options.priority_map)
    rewrites = target_has_rewrites(options.target_version)
    flagged = [parse_objective_flag(item) for item in options.objectives]
    models = _models(options.objectives_from, options.alpha_pool, report) if options.objectives_from else []
    route_source = _route_source(options.route_from) if options.route_from else None

    documents = [document for document in split(text) if not _generated_earlier(document)]
    release = GaRelease(documents, report)
    needs_pool = _per_pool_flag(options)
    unit = release.select(options.release, needs_pool) if needs_pool else None

    release.convert_pools()
    taken = release.alpha_names(unit, options.alpha_pool, options.alpha_namespace) if options.alpha_pool else set()
    if unit and options.pool_name:
        release.rename_pool(unit, options.pool_name, taken)
    if unit and options.alpha_pool:
        release.avoid_alpha_names(unit, taken, options.alpha_pool)
    release.follow_pool_references()
    release.update_epp()
    release.grant_ga_pools()

    generated: list[Generated] = []
    if unit:
        pool, namespace = unit.final_pool, unit.namespace
        generated += [from_flag(name, priority, pool, namespace) for name, priority in flagged]
        for model in models:
            generated += from_model(model, pool, namespace, priorities, rewrites)
        generated = _without_twins(generated, release)
        if options.ga_weight is not None:
            generated.append(_route(options, route_source, pool, namespace))
    _append(documents, generated, report)
    return join(documents), report


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
    key = mapping()["generated_annotation"]
    if key not in document.body:
        return False
    annotations = (document.data.get("metadata") or {}).get("annotations") or {}
    return key in annotations


def _models(path: str, alpha_pool: str | None, report: Report) -> list[dict]:
    kind = mapping()["alpha_model"]["kind"]
    models = []
    for position, item in enumerate(load_file_documents(path, "--objectives-from")):
        if not isinstance(item, dict) or item.get("kind") != kind:
            raise InputError(
                f"--objectives-from {path}: item {position} is not an InferenceModel; "
                "pass the output of `kubectl get inferencemodels.inference.networking.x-k8s.io -o yaml`"
            )
        pool_ref = ((item.get("spec") or {}).get("poolRef") or {}).get("name")
        if alpha_pool is None or pool_ref == alpha_pool:
            models.append(item)
        else:
            name = (item.get("metadata") or {}).get("name")
            report.notes.append(f"InferenceModel {name} skipped: its pool is {pool_ref}, not --alpha-pool {alpha_pool}")
    return models


def _route_source(path: str) -> dict:
    items = load_file_documents(path, "--route-from")
    routes = [item for item in items if isinstance(item, dict) and item.get("kind") == mapping()["route"]["kind"]]
    if len(routes) != 1:
        raise InputError(f"--route-from {path}: expected exactly one HTTPRoute, found {len(routes)}")
    return routes[0]


def _route(options: Options, source: dict | None, pool: str, namespace: str | None) -> Generated:
    if source is not None:
        return rewrite_route(source, options.route_from, options.alpha_pool, pool, options.ga_weight)
    gateway, _, gateway_ns = options.gateway.partition("/")
    return new_route(
        options.route_name, namespace, gateway, gateway_ns or None, options.alpha_pool, pool, options.ga_weight
    )


def _without_twins(generated: list[Generated], release: GaRelease) -> list[Generated]:
    """A chart's own object wins over a generated one of the same kind and name (v1.5.0 renders objectives)."""
    present = set()
    for document in release.documents:
        kind = release.kinds.get(document.index)
        if kind in (mapping()["objective"]["kind"], mapping()["model_rewrite"]["kind"]):
            present.add((kind, (document.data.get("metadata") or {}).get("name")))
    kept, seen = [], set()
    for item in generated:
        key = (item.obj["kind"], item.obj["metadata"]["name"])
        if key in present:
            release.report.notes.append(f"{key[0]} {key[1]}: the chart renders it already; kept the chart's")
        elif key in seen:
            raise InputError(f"{key[0]} {key[1]}: asked for twice (--objective and --objectives-from); give it once")
        else:
            seen.add(key)
            kept.append(item)
    return kept


def _append(documents: list[Document], generated: list[Generated], report: Report) -> None:
    key = mapping()["generated_annotation"]
    for item in generated:
        item.obj["metadata"].setdefault("annotations", {})[key] = "true"
        document = new_document(len(documents), item.obj)
        if documents and not documents[-1].text().endswith("\n"):
            documents[-1].body += "\n"
        documents.append(document)
        metadata = item.obj["metadata"]
        entry = report.entry(document.index, item.obj["kind"], metadata["name"], metadata.get("namespace"))
        for change in item.changes or ["generated"]:
            report.record(entry, "generated", change)
        entry.assumed.extend(item.assumed)
        entry.not_carried_over.extend(item.not_carried_over)
        if item.not_carried_over:
            entry.actions.append("not carried over")


EXAMPLE = """
\b
Examples:
  # Helm 3: the GA release beside the alpha one, pool renamed, 50/50 split
  helm install vllm-ga oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool \\
    --version v1.0.0 --set inferencePool.modelServers.matchLabels.app=vllm \\
    --post-renderer "$(command -v infgw-postrender)" \\
    --post-renderer-args --alpha-pool=vllm --post-renderer-args --ga-weight=50
\b
  # Offline, on a rendered file
  helm template vllm-ga ./inferencepool | infgw-postrender --objectives-from models.yaml --report report.json
"""


def options_decorator(func):
    """The post-renderer's flags, shared by `infgw-postrender` and `infgw-migrate postrender`."""
    decorators = [
        click.option("--pool-name", help="Name of the GA InferencePool (default: the release name)."),
        click.option("--release", help="The release being rendered, when the stream cannot tell (several pools)."),
        click.option("--alpha-pool", help="The alpha InferencePool that serves traffic today."),
        click.option("--alpha-namespace", help="Namespace of the alpha release (default: the GA release's)."),
        click.option("--ga-weight", type=int, help="Percentage of traffic for the GA pool, 0 to 100 (needs --alpha-pool)."),
        click.option("--route-name", default="llm-route", show_default=True, help="Name of the generated HTTPRoute."),
        click.option("--gateway", default="inference-gateway", show_default=True, help="Parent Gateway, NAME[/NAMESPACE]."),
        click.option("--route-from", type=click.Path(dir_okay=False), help="Start from this HTTPRoute's YAML."),
        click.option("--objective", "objectives", multiple=True, metavar="NAME=PRIORITY", help="Generate an InferenceObjective (repeatable)."),
        click.option("--objectives-from", type=click.Path(dir_okay=False), help="YAML of v1alpha2 InferenceModels to carry over."),
        click.option("--priority-map", metavar="Critical=2,Standard=1,Sheddable=0", help="Criticality to priority."),
        click.option("--target-version", default="v1.0.0", show_default=True, help="GA release targeted (v1.2.0+ adds InferenceModelRewrite)."),
        click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the JSON report here."),
        click.option("-q", "--quiet", is_flag=True, help="No summary on stderr."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def run(report_path: str | None, quiet: bool, **flags) -> None:
    """Read stdin, write stdout only when everything succeeded."""
    options = Options(**{key: value for key, value in flags.items()})
    options.objectives = list(options.objectives)
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"stdin: not UTF-8 text (byte {exc.start}); pass the rendered manifests") from None
    output, report = post_render(text, options)
    if report_path:
        try:
            with open(report_path, "w", encoding="utf-8") as handle:
                handle.write(report.as_json())
        except OSError as exc:
            raise InputError(f"--report {report_path}: cannot write it ({exc.strerror})") from None
    sys.stdout.write(output)
    sys.stdout.flush()
    if not quiet:
        sys.stderr.write(report.as_text())


def fail(error: MigrateError) -> None:
    click.echo(f"Error: {error}", err=True)
    sys.exit(error.exit_code)


@click.command(epilog=EXAMPLE, context_settings={"help_option_names": ["-h", "--help"]})
@options_decorator
def command(report_path: str | None, quiet: bool, **flags) -> None:
    """Post-render inferencepool chart output into a GA stack that runs beside the alpha one."""
    try:
        run(report_path, quiet, **flags)
    except MigrateError as error:
        fail(error)


def standalone(cmd: click.Command, prog_name: str) -> None:
    """Run a click command so that a usage mistake is one line on stderr and exit status 2."""
    try:
        cmd.main(prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        sys.exit(130)
    except click.ClickException as error:
        click.echo(f"Error: {' '.join(error.format_message().split())} (see {prog_name} --help)", err=True)
        sys.exit(2)


def main() -> None:
    standalone(command, "infgw-postrender")

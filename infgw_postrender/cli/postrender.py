"""The post-renderer: rendered manifests on stdin, the GA stack on stdout, the report on stderr."""

from __future__ import annotations

import dataclasses
import gc
import io
import os
import sys

import click

from infgw_postrender import __version__, defaults
from infgw_postrender.cli.params import DNS_LABEL, PERCENT, Command
from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.postrender.pipeline import Options, post_render_documents
from infgw_postrender.postrender.stream import read_chunks, split_chunks

EXAMPLE = """
\b
Examples:
  # Helm 3: the GA release beside the alpha one, pool renamed, 50/50 split
  helm install vllm-ga oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool \\
    --version v1.0.0 --set inferencePool.modelServers.matchLabels.app=vllm \\
    --post-renderer "$(helm infgw-migrate install-postrenderer)" \\
    --post-renderer-args --alpha-pool=vllm --post-renderer-args --ga-weight=50
\b
  # Offline, on a rendered file (a CI render: no cluster is read)
  helm template vllm-ga ./inferencepool | infgw-postrender --objectives-from models.yaml --alpha-pool vllm \\
    --ga-weight 0 --offline --report report.json
"""


def options_decorator(func):
    """The post-renderer's flags, shared by `infgw-postrender` and `infgw-migrate postrender`."""
    decorators = [
        click.option("--pool-name", type=DNS_LABEL, help="Name of the GA InferencePool (default: the release name)."),
        click.option(
            "--release", type=DNS_LABEL, help="The release being rendered, when the stream cannot tell (several pools)."
        ),
        click.option("--alpha-pool", type=DNS_LABEL, help="The alpha InferencePool that serves traffic today."),
        click.option(
            "--alpha-namespace", type=DNS_LABEL, help="Namespace of the alpha release (default: the GA release's)."
        ),
        click.option(
            "--ga-weight", type=PERCENT, help="Percentage of traffic for the GA pool, 0 to 100 (needs --alpha-pool)."
        ),
        click.option(
            "--route-name",
            type=DNS_LABEL,
            default=defaults.ROUTE,
            show_default=True,
            help="Name of the generated HTTPRoute.",
        ),
        click.option(
            "--gateway", default=defaults.GATEWAY, show_default=True, help="Parent Gateway, NAME[/NAMESPACE]."
        ),
        click.option("--route-from", type=click.Path(dir_okay=False), help="Start from this HTTPRoute's YAML."),
        click.option(
            "--objective",
            "objectives",
            multiple=True,
            metavar="NAME=PRIORITY",
            help="Generate an InferenceObjective (repeatable).",
        ),
        click.option(
            "--objectives-from", type=click.Path(dir_okay=False), help="YAML of v1alpha2 InferenceModels to carry over."
        ),
        click.option("--priority-map", metavar="Critical=2,Standard=1,Sheddable=-1", help="Criticality to priority."),
        click.option(
            "--model-routing",
            is_flag=True,
            help="With body-based routing deployed: a route rule per model (X-Gateway-Model-Name) sets its "
            "objective header, so clients keep sending only the model name.",
        ),
        click.option(
            "--target-version",
            default=defaults.TARGET_VERSION,
            show_default=True,
            help="GA release targeted: GIE vX.Y.Z (v1.3.0 to v1.5.0 add InferenceModelRewrite, which their EPP acts on; v1.6.0 has no objective APIs) or llm-d-router/vX.Y.Z (llm-d.ai objectives; chosen by itself when the stream's EPP is llm-d-router's).",
        ),
        click.option(
            "--report",
            "report_path",
            type=click.Path(dir_okay=False),
            help="Write the JSON report here (on failure, the error).",
        ),
        click.option(
            "--error-file",
            type=click.Path(dir_okay=False),
            help="On failure, also write the one-line error here (Helm 4 never shows a post-renderer's "
            "stderr; infgw-migrate install|upgrade|template read it).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No summary on stderr."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


# Options fields whose flag is not the field's name with dashes
_FLAG_OF_FIELD = {"objectives": "objective"}


def options_of(flags: dict) -> Options:
    """The Options that the post-renderer's flags (as click passes them) stand for."""
    return Options(**{**flags, "objectives": list(flags.get("objectives", ()))})


def as_args(
    options: Options, report_path: str | None = None, error_file: str | None = None, quiet: bool = False
) -> list[str]:
    """The post-renderer's command line for these options (one `--flag=value` each, defaults left out), for
    Helm's --post-renderer-args."""
    args = []
    defaults = Options()
    for item in dataclasses.fields(Options):
        value = getattr(options, item.name)
        if value == getattr(defaults, item.name):
            continue
        flag = "--" + _FLAG_OF_FIELD.get(item.name, item.name).replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [f"{flag}={entry}" for entry in value]
        else:
            args.append(f"{flag}={value}")
    args += [f"--report={report_path}"] if report_path else []
    args += [f"--error-file={error_file}"] if error_file else []
    return args + (["--quiet"] if quiet else [])


def run(
    report_path: str | None,
    quiet: bool,
    error_file: str | None = None,
    offline: bool = False,
    kube_context: str | None = None,
    **flags,
) -> None:
    """Read stdin, write stdout only when everything succeeded."""
    try:
        _run(report_path, quiet, offline, kube_context, **flags)
    except MigrateError as error:
        report_failure(error, error_file, report_path)
        raise


def report_failure(error: MigrateError, error_file: str | None, report_path: str | None) -> None:
    """A failure is also written where it can be seen through Helm: the --error-file, the --report, and the
    terminal when Helm 4 runs this as its plugin."""
    import json  # only on failure: its import costs every start 1 ms (issue 33)

    line = f"Error: {error.format_message()}"
    for path, text in ((error_file, line + "\n"), (report_path, json.dumps({"error": line}, indent=2) + "\n")):
        if path:
            try:
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(text)
            except OSError:
                pass  # the error itself still reaches stderr
    if os.environ.get("HELM_PLUGIN_NAME") and not sys.stderr.isatty():
        _to_terminal(line)


def _to_terminal(line: str) -> None:
    """Helm 4 keeps a post-renderer plugin's stderr to itself: a user at a terminal is told there."""
    try:
        with open("/dev/tty", "w", encoding="utf-8") as terminal:
            terminal.write(f"infgw-postrender: {line}\n")
    except OSError:
        pass  # no terminal (a pipeline): --error-file and --report carry the line


def _run(report_path: str | None, quiet: bool, offline: bool, kube_context: str | None, **flags) -> None:
    options = options_of(flags)
    try:
        documents = split_chunks(read_chunks(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")))
    except UnicodeDecodeError as exc:
        raise InputError(f"stdin: not UTF-8 text ({exc.reason}); pass the rendered manifests") from None
    try:
        result = post_render_documents(documents, options)
    except RecursionError:  # parsing catches its own; this is for a deep tree that parsed but cannot be walked
        raise InputError("stdin: a document is nested too deeply for a Kubernetes object") from None
    report = result.report
    if result.routes:  # imported only then: most post-renders generate no route, and start-up counts (issue 33)
        from infgw_postrender.cluster.backends import check_generated_routes

        kubectl = None
        if not offline:
            from infgw_postrender.cluster.kube import Kubectl

            kubectl = Kubectl.from_options(kube_context, None)
        check_generated_routes(result.routes, report.notes, kubectl)
    if report_path:
        try:
            with open(report_path, "w", encoding="utf-8") as handle:
                handle.write(report.as_json())
        except OSError as exc:
            raise InputError(f"--report {report_path}: cannot write it ({exc.strerror})") from None
    result.write(sys.stdout)
    sys.stdout.flush()
    if not quiet:
        sys.stderr.write(report.as_text())


class PostRendererCommand(Command):
    """A flag Helm passed wrong (--post-renderer-args) is reported where Helm lets it be seen, as every failure is."""

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201 (click's signature)
        given = list(args)  # click consumes the list as it parses
        try:
            return super().make_context(info_name, args, parent, **extra)
        except MigrateError as error:
            report_failure(error, _given(given, "--error-file"), _given(given, "--report"))
            raise


def _given(args: list[str], flag: str) -> str | None:
    """The value of `flag` on a command line that did not parse."""
    for position, arg in enumerate(args):
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
        if arg == flag and position + 1 < len(args):
            return args[position + 1]
    return None


@click.command(
    "postrender", cls=PostRendererCommand, epilog=EXAMPLE, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="infgw-postrender")
@options_decorator
@click.option(
    "--offline",
    is_flag=True,
    help="Read no cluster: with --ga-weight below 100, the alpha pool is not checked (the report says so).",
)
@click.option(
    "--kube-context",
    help="The kubeconfig context whose cluster the alpha pool is checked on (default: "
    "HELM_KUBECONTEXT, else kubectl's current one).",
)
def command(report_path: str | None, quiet: bool, **flags) -> None:
    """Post-render inferencepool chart output into a GA stack that runs beside the alpha one (also
    `infgw-migrate postrender`): manifests on stdin, the GA stack on stdout, the report on stderr.

    With --ga-weight below 100, the route leaves the alpha pool traffic: that pool and its EPP are checked through
    kubectl first, as `shift` checks them (refused when missing; when no cluster answers, the report says it was
    not checked; --offline says so on purpose)."""
    run(report_path, quiet, **flags)


def main() -> None:
    # Almost everything a post-render makes lives to its end (the documents, the report): the collector's rounds
    # over them free nothing. Fewer rounds, and none over what the imports made (a few percent, issue 33).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    command.main(prog_name="infgw-postrender")

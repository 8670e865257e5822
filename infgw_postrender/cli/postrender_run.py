"""What a post-render runs with and how it runs: the post-renderer's flags (FLAGS, read by the click command and by
the entry point's own reading of a plain command line), the Options they stand for, and run()."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from infgw_postrender import defaults
from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.postrender.pipeline import Options, Result, post_render_documents
from infgw_postrender.postrender.stream import read_chunks, split_chunks


class Flag(NamedTuple):
    """One of the post-renderer's flags. kind: name (a DNS-1123 label, {release} allowed), weight (0 to 100), file,
    text, switch (no value), list (repeatable)."""

    names: tuple[str, ...]
    dest: str
    kind: str
    help: str
    default: Any = None
    metavar: str | None = None


FLAGS = (
    Flag(("--pool-name",), "pool_name", "name", "Name of the GA InferencePool (default: the release name)."),
    Flag(("--release",), "release", "name", "The release being rendered, when the stream cannot tell (several pools)."),
    Flag(("--alpha-pool",), "alpha_pool", "name", "The alpha InferencePool that serves traffic today."),
    Flag(
        ("--alpha-namespace",), "alpha_namespace", "name", "Namespace of the alpha release (default: the GA release's)."
    ),
    Flag(
        ("--ga-weight",), "ga_weight", "weight", "Percentage of traffic for the GA pool, 0 to 100 (needs --alpha-pool)."
    ),
    Flag(("--route-name",), "route_name", "name", "Name of the generated HTTPRoute.", defaults.ROUTE),
    Flag(("--gateway",), "gateway", "text", "Parent Gateway, NAME[/NAMESPACE].", defaults.GATEWAY),
    Flag(("--route-from",), "route_from", "file", "Start from this HTTPRoute's YAML."),
    Flag(("--objective",), "objectives", "list", "Generate an InferenceObjective (repeatable).", (), "NAME=PRIORITY"),
    Flag(("--objectives-from",), "objectives_from", "file", "YAML of v1alpha2 InferenceModels to carry over."),
    Flag(
        ("--priority-map",),
        "priority_map",
        "text",
        "Criticality to priority.",
        metavar="Critical=2,Standard=1,Sheddable=-1",
    ),
    Flag(
        ("--model-routing",),
        "model_routing",
        "switch",
        "With body-based routing deployed: a route rule per model (X-Gateway-Model-Name) sets its objective header, "
        "so clients keep sending only the model name.",
        False,
    ),
    Flag(
        ("--target-version",),
        "target_version",
        "text",
        "GA release targeted: GIE vX.Y.Z (v1.3.0 to v1.5.0 add InferenceModelRewrite, which their EPP acts on; v1.6.0 "
        "has no objective APIs) or llm-d-router/vX.Y.Z (llm-d.ai objectives; chosen by itself when the stream's EPP "
        "is llm-d-router's).",
        defaults.TARGET_VERSION,
    ),
    Flag(("--report",), "report_path", "file", "Write the JSON report here (on failure, the error)."),
    Flag(
        ("--error-file",),
        "error_file",
        "file",
        "On failure, also write the one-line error here (Helm 4 never shows a post-renderer's stderr; "
        "infgw-migrate install|upgrade|template read it).",
    ),
    Flag(("-q", "--quiet"), "quiet", "switch", "No summary on stderr.", False),
)
# `infgw-postrender`'s own, not `infgw-migrate postrender`'s
COMMAND_FLAGS = (
    Flag(
        ("--offline",),
        "offline",
        "switch",
        "Read no cluster: with --ga-weight below 100, the alpha pool is not checked (the report says so).",
        False,
    ),
    Flag(
        ("--kube-context",),
        "kube_context",
        "text",
        "The kubeconfig context whose cluster the alpha pool is checked on (default: HELM_KUBECONTEXT, else "
        "kubectl's current one).",
    ),
)
# Options fields whose flag is not the field's name with dashes
_FLAG_OF_FIELD = {"objectives": "objective"}


def options_of(flags: dict) -> Options:
    """The Options that the post-renderer's flags (as click passes them) stand for."""
    return Options(**{**flags, "objectives": tuple(flags.get("objectives", ()))})


def as_args(
    options: Options, report_path: str | None = None, error_file: str | None = None, quiet: bool = False
) -> list[str]:
    """The post-renderer's command line for these options (one `--flag=value` each, defaults left out), for
    Helm's --post-renderer-args."""
    args = []
    for name, value in zip(Options._fields, options, strict=True):
        if value == Options._field_defaults[name]:
            continue
        flag = "--" + _FLAG_OF_FIELD.get(name, name).replace("_", "-")
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
    after_reading: Callable[[], None] | None = None,
    **flags,
) -> Result:
    """Read stdin, write stdout only when everything succeeded; `after_reading()` once the stream is read. What
    was rendered."""
    try:
        return _run(report_path, quiet, offline, kube_context, after_reading, **flags)
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


def _run(
    report_path: str | None,
    quiet: bool,
    offline: bool,
    kube_context: str | None,
    after_reading: Callable[[], None] | None,
    **flags,
) -> Result:
    options = options_of(flags)
    try:
        documents = split_chunks(read_chunks(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="\n")))
    except UnicodeDecodeError as exc:
        raise InputError(f"stdin: not UTF-8 text ({exc.reason}); pass the rendered manifests") from None
    if after_reading is not None:
        after_reading()
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
    return result

"""`install` and `upgrade`: the GA inferencepool chart through the user's Helm, with the post-renderer wired in
the way that Helm needs (an executable's path on Helm 3, the plugin's name on Helm 4)."""

from __future__ import annotations

import os

from infgw_postrender.cluster.helm import Helm, HelmError
from infgw_postrender.cluster.processes import run_child
from infgw_postrender.errors import InputError
from infgw_postrender.helm_plugin.plugin import ensure

# Flags that this command sets itself; given among the Helm flags they would fight with it.
_OWN_HELM_FLAGS = ("--post-renderer", "--post-renderer-args", "--dry-run")


def helm_command(
    helm: Helm, verb: str, release: str, chart: str, helm_args: list[str], renderer_args: list[str], dry_run: bool
) -> list[str]:
    """The Helm command line that installs (or upgrades) `chart` as `release` through the post-renderer."""
    if release.startswith("-") or chart.startswith("-"):
        raise InputError(f"{verb}: RELEASE and CHART come first, Helm's flags after them (got {release!r} {chart!r})")
    for arg in helm_args:
        if arg.split("=", 1)[0] in _OWN_HELM_FLAGS:
            raise InputError(f"{verb}: {arg.split('=', 1)[0]} is set by infgw-migrate {verb}; leave it out")
    wiring = ensure(helm)
    command = [
        helm.binary,
        verb,
        release,
        chart,
        *helm_args,
        *_consumed_by_helm(helm_args),
        "--post-renderer",
        wiring.post_renderer,
    ]
    command += [f"--post-renderer-args={arg}" for arg in renderer_args]
    if dry_run:
        command.append("--dry-run=client")  # renders without touching the cluster
    return command


def _consumed_by_helm(helm_args: list[str]) -> list[str]:
    """`helm infgw-migrate ... -n NS --kube-context C`: Helm takes its global flags and passes them to a plugin
    as HELM_NAMESPACE and HELM_KUBECONTEXT only; the command that runs (and is printed) gets them back."""
    given = {arg.split("=", 1)[0] for arg in helm_args}
    added = []
    if not given & {"-n", "--namespace"} and not any(arg.startswith("-n") and len(arg) > 2 for arg in helm_args):
        if os.environ.get("HELM_NAMESPACE"):
            added += ["-n", os.environ["HELM_NAMESPACE"]]
    if "--kube-context" not in given and os.environ.get("HELM_KUBECONTEXT"):
        added += ["--kube-context", os.environ["HELM_KUBECONTEXT"]]
    return added


def run_helm(command: list[str]) -> int:
    """Run Helm with this process's stdin, stdout and stderr; its exit status is ours. Ctrl-C lets Helm end its
    operation as it would at a terminal (processes.run_child), then interrupts this process."""
    try:
        return run_child(command)
    except OSError as exc:
        raise HelmError(f"helm ({command[0]}): cannot run it ({exc.strerror}); install Helm or set HELM_BIN") from None

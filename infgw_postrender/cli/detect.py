"""The commands that read and decide, changing nothing unless asked: detect, crds, objectives, rbac."""

from __future__ import annotations

import json
import sys

import click

from infgw_postrender import defaults
from infgw_postrender.cli.options import (
    CONTEXT,
    cluster_options,
    emit,
    kubeconfig_option,
    kubectl_for,
    output_option,
    progress,
)
from infgw_postrender.cli.params import DNS_LABEL, DURATION, Command
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.errors import EXIT_MIGRATION_NEEDED
from infgw_postrender.yaml import emitter


# -- detect --------------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate detect -A                  # every namespace
  helm infgw-migrate detect -n llm -o json --exit-code
  kubectl get crd,inferencepools.inference.networking.x-k8s.io,inferencemodels.inference.networking.x-k8s.io,httproutes,deployments -A -o yaml > snapshot.yaml
  helm infgw-migrate detect --from-file snapshot.yaml --server-version v1.33.5-gke.1080000
""",
)
@cluster_options
@output_option
@click.option("--exit-code", is_flag=True, help=f"Exit {EXIT_MIGRATION_NEEDED} when a migration is needed, 0 when not.")
@click.option(
    "--from-file", type=click.Path(dir_okay=False), help="Read a snapshot (kubectl get ... -o yaml), not a cluster."
)
@click.option("--server-version", help="With --from-file: the cluster's version, for the CRD advice.")
@click.option(
    "-A",
    "--all-namespaces",
    is_flag=True,
    help="Every namespace (the default without -n; run through Helm, which always gives the plugin a "
    "namespace, ask for it).",
)
def detect(namespace, kube_context, output, exit_code, from_file, server_version, all_namespaces) -> None:
    """What is alpha: v1alpha2 pools and models, the routes to them (with weights), inferencepool and
    llm-d-router-gateway Helm releases, the server version and the inference CRDs (and who installed them); and
    the path to take."""
    from infgw_postrender.cluster.detect import read_cluster, read_snapshot, table

    kubectl = kubectl_for(namespace, kube_context, reads=not from_file)
    namespace = None if all_namespaces else kubectl.namespace  # -n, else HELM_NAMESPACE; none: every namespace
    if from_file:
        findings = read_snapshot(from_file, server_version, namespace)
    else:
        findings = read_cluster(kubectl, Helm.from_env(), namespace)
    emit(findings.as_dict(), output, table(findings))
    if exit_code and findings.migration_needed:
        sys.exit(EXIT_MIGRATION_NEEDED)


# -- crds ----------------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate crds --server-version v1.34.1-gke.100     # the decision, without a cluster
  helm infgw-migrate crds --apply                               # download, check, apply, wait until Established
  helm infgw-migrate crds --apply --source /mirror/inference-extension   # air-gapped: a folder laid out as upstream
  helm infgw-migrate crds --server-version v1.35.0-gke.5 --target-version llm-d-router/v0.10.0   # llm-d-router's EPP
""",
)
@click.option("--kube-context", help="kubeconfig context (default: HELM_KUBECONTEXT, then the current one).")
@kubeconfig_option
@output_option
@click.option("--server-version", help="Decide for this version instead of asking the cluster.")
@click.option(
    "--target-version",
    default=defaults.TARGET_VERSION,
    show_default=True,
    help="The release whose CRDs to install: GIE vX.Y.Z (v1.0.0 to v1.6.0 pinned) or llm-d-router/vX.Y.Z "
    "(the v1 InferencePool of GIE v1.6.0 plus its llm-d.ai objective CRDs).",
)
@click.option(
    "--apply", "apply_", is_flag=True, help="Download, check the pinned SHA-256, apply, wait until Established."
)
@click.option("--dry-run", is_flag=True, help="With --apply: download and check, then apply with --dry-run=server.")
@click.option(
    "--source",
    envvar="INFGW_CRD_SOURCE",
    show_envvar=True,
    help="A mirror URL or folder laid out as upstream's paths, instead of github.com.",
)
@click.option("--insecure-unpinned", is_flag=True, help="Accept files this tool has no pinned SHA-256 for.")
@click.option(
    "--timeout", type=DURATION, default="2m", show_default=True, help="How long to wait for Established (90s, 5m)."
)
@click.option("--whole-bundle", is_flag=True, help="A bundle applied half-way is applied again even when only its "
              "v1alpha2 CRDs are missing (the simple path, which deleted the v0.3.0 ones before).")  # fmt: skip
def crds(
    kube_context, output, server_version, target_version, apply_, dry_run, source, insecure_unpinned, timeout,
    whole_bundle,
) -> None:  # fmt: skip
    """Decide which inference CRDs to install (the bundle that holds the v1 InferencePool, or on GKE that serves it
    only the objective CRDs the target's EPP reads), and with --apply install them. A GKE-managed CRD is never
    overwritten. CRDs are cluster-scoped: there is no -n."""
    from infgw_postrender.api.releases import parse_target
    from infgw_postrender.cluster.crds import apply_files, decide, installed, left_behind

    kubectl = kubectl_for(None, kube_context, reads=server_version is None or apply_)
    present: dict[str, str] | None = None  # offline (--server-version alone): the version decides
    left: list[str] = []
    if server_version is None or apply_:
        server_version = server_version or kubectl.server_version()
        present = installed(kubectl, target_version)
        live = {crd["metadata"]["name"]: crd for crd in kubectl.crds()}  # the same read (one burst)
        left = left_behind(live, parse_target(target_version), whole_bundle)
    decision = decide(server_version, present, target_version, left)
    emit(decision.as_dict(), output, decision.text())
    if not apply_ or not decision.files:
        return
    apply_files(kubectl, decision, source, insecure_unpinned, timeout, progress, dry_run)
    if not dry_run:
        progress("all Established")


# -- objectives ----------------------------------------------------------------------------------------------
@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Example:
  helm infgw-migrate objectives -n llm --alpha-pool vllm --ga-pool vllm-ga            # print them
  helm infgw-migrate objectives -n llm --alpha-pool vllm --ga-pool vllm-ga --apply
""",
)
@cluster_options
@click.option(
    "--alpha-pool", type=DNS_LABEL, required=True, help="The alpha InferencePool whose InferenceModels to carry over."
)
@click.option("--ga-pool", type=DNS_LABEL, required=True, help="The GA InferencePool the objectives point at.")
@click.option("--priority-map", metavar="Critical=2,Standard=1,Sheddable=-1", help="Criticality to priority.")
@click.option(
    "--target-version",
    default=defaults.TARGET_VERSION,
    show_default=True,
    help="GIE v1.3.0 to v1.5.0 add InferenceModelRewrites (its EPP acts on them); llm-d-router/vX.Y.Z "
    "writes both in llm-d.ai.",
)
@click.option("--apply", "apply_", is_flag=True, help="Apply them (kubectl apply) instead of printing.")
@click.option("--dry-run", is_flag=True, help="With --apply: kubectl apply --dry-run=server.")
def objectives(namespace, kube_context, alpha_pool, ga_pool, priority_map, target_version, apply_, dry_run) -> None:
    """InferenceObjectives (and InferenceModelRewrites) for the GA pool from the alpha pool's InferenceModels,
    with the post-renderer's report on stderr."""
    from infgw_postrender.cluster.objectives import objectives_from_cluster

    kubectl = kubectl_for(namespace, kube_context)
    text, report = objectives_from_cluster(kubectl, alpha_pool, ga_pool, priority_map, target_version)
    click.echo(report, err=True, nl=False)
    if apply_:
        click.echo(kubectl.apply(text, "apply the InferenceObjectives", dry_run=dry_run), nl=False)
    else:
        click.echo(text, nl=False)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate rbac --subject user:alice@example.com | kubectl apply -f -
  helm infgw-migrate rbac --subject serviceaccount:ci:migrator -o json
""",
)
@click.option(
    "--subject",
    required=True,
    metavar="user:NAME|group:NAME|serviceaccount:NS:NAME",
    help="Who runs the migration: the binding's subject.",
)
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def rbac(subject, output) -> None:
    """The least privilege a migration needs: a ClusterRole and its binding, to apply as a cluster admin. `migrate`
    asks the server for each of these permissions before its first change."""
    from infgw_postrender.api.objects import as_list
    from infgw_postrender.cluster.access import manifests

    found = manifests(subject)
    click.echo(
        json.dumps(as_list(found), indent=2) if output == "json" else "---\n".join(map(emitter.dump, found)),
        nl=output == "json",
    )


COMMANDS = (detect, crds, objectives, rbac)

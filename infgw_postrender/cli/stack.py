"""The commands that keep and remove the alpha stack: backup, cleanup, restore."""

from __future__ import annotations

import click

from infgw_postrender.cli.options import (
    CONTEXT,
    cluster_options,
    kubectl_for,
    progress,
)
from infgw_postrender.cli.params import DNS_LABEL, DURATION, Command
from infgw_postrender.cluster.helm import Helm
from infgw_postrender.cluster.kube import Kubectl


# -- backup, cleanup and restore -----------------------------------------------------------------------------
def _state_key(kubectl: Kubectl, alpha_pool: str):
    from infgw_postrender.cluster.state import state_key

    return state_key(kubectl, kubectl.default_namespace, alpha_pool)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate backup -n llm --alpha-pool vllm --route llm-route
  helm infgw-migrate backup -n llm --alpha-pool vllm --file vllm-backup.yaml --models vllm-models.yaml
""",
)
@cluster_options
@click.option("--alpha-pool", type=DNS_LABEL, required=True, help="The alpha InferencePool whose stack to back up.")
@click.option(
    "--route", "routes", type=DNS_LABEL, multiple=True, help="An HTTPRoute to keep in the backup too (repeatable)."
)
@click.option("--file", "backup_path", help="The backup (default: CLUSTER.NAMESPACE.POOL.backup.yaml here).")
@click.option("--models", "models_path", help="Also write the pool's InferenceModels alone, for --objectives-from.")
def backup(namespace, kube_context, alpha_pool, routes, backup_path, models_path) -> None:
    """Back up everything removing the alpha stack would delete (its Helm release's objects and records, the
    pool, its InferenceModels and EPP) and the routes named: added to what the file holds already, never
    dropped. Files are mode 0600: they hold Secrets."""
    from infgw_postrender.cluster.cleanup import BACKUP, backup_alpha

    kubectl = kubectl_for(namespace, kube_context)
    key = _state_key(kubectl, alpha_pool)
    for line in backup_alpha(
        kubectl, Helm.from_env(), key, list(routes), backup_path or str(key.path(".", BACKUP)), models_path
    ):
        progress(line)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Examples:
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --ga-pool vllm-ga --dry-run
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --ga-pool vllm-ga --backup alpha-backup.yaml --delete-crds
  helm infgw-migrate cleanup -n llm --alpha-pool vllm --with-downtime --delete-unused-crds   # the simple path
  helm infgw-migrate restore alpha-backup.yaml
""",
)
@cluster_options
@click.option("--alpha-pool", type=DNS_LABEL, required=True)
@click.option("--ga-pool", type=DNS_LABEL, help="The GA pool that must be serving before anything is deleted.")
@click.option(
    "--backup",
    "backup_path",
    help="Made to hold every object before any is deleted (default: CLUSTER.NAMESPACE.POOL.backup.yaml here).",
)
@click.option(
    "--delete-crds",
    is_flag=True,
    help="Also delete the v1alpha2 CRDs; refused while any object of them is left anywhere.",
)
@click.option(
    "--delete-unused-crds",
    is_flag=True,
    help="Delete the v1alpha2 CRDs when no object of them is left anywhere; keep them (and say why) otherwise.",
)
@click.option(
    "--with-downtime",
    is_flag=True,
    help="The simple path: remove the alpha stack while it still serves (the outage starts here); no route "
    "or GA pool check.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; write and delete nothing.")
@click.option(
    "--timeout",
    type=DURATION,
    default="1m",
    show_default=True,
    help="How long to wait for what was deleted to be gone (a finalizer holds an object until its "
    "controller removes it).",
)
def cleanup(
    namespace,
    kube_context,
    alpha_pool,
    ga_pool,
    backup_path,
    delete_crds,
    delete_unused_crds,
    with_downtime,
    dry_run,
    timeout,
) -> None:
    """Remove the alpha stack (helm uninstall of its release, or the pool, its InferenceModels and EPP), once the
    backup holds every object to delete (kind, namespace, name and uid). Refuses while any HTTPRoute routes to
    the alpha pool or while the GA pool is not serving, unless --with-downtime."""
    from infgw_postrender.cluster.cleanup import BACKUP, plan_cleanup, run_cleanup

    kubectl = kubectl_for(namespace, kube_context)
    helm = Helm.from_env()
    crds_mode = "always" if delete_crds else "unused" if delete_unused_crds else None
    cleanup_plan = plan_cleanup(kubectl, helm, alpha_pool, ga_pool, crds_mode, with_downtime)
    if dry_run or not (cleanup_plan.objects or cleanup_plan.crds):
        # what is deleted is said once: as a plan here, or as it is done below
        for line in cleanup_plan.describe() or ["nothing to delete: the alpha pool is gone"]:
            click.echo(("would " if dry_run else "") + line)
        return
    if cleanup_plan.crds_kept:
        progress(f"keep the v1alpha2 CRDs: {cleanup_plan.crds_kept}")
    key = _state_key(kubectl, alpha_pool)
    for line in run_cleanup(
        kubectl, helm, cleanup_plan, key, backup_path or str(key.path(".", BACKUP)), progress, timeout
    ):
        progress(line)


@click.command(
    cls=Command,
    context_settings=CONTEXT,
    epilog="""
\b
Example:
  helm infgw-migrate restore infgw-alpha-backup.yaml
""",
)
@cluster_options
@click.argument("backup", type=click.Path(dir_okay=False))
def restore(namespace, kube_context, backup) -> None:
    """Create again what a cleanup backup holds (CRDs first); objects that exist are left as they are."""
    from infgw_postrender.cluster.cleanup import restore as run_restore

    for line in run_restore(kubectl_for(namespace, kube_context), backup):
        click.echo(line)


COMMANDS = (backup, cleanup, restore)

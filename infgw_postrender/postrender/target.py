"""Which release's EPP a pool group holds, and so which objective and rewrite APIs its objects must be written in:
the --target-version, unless the stream's EPP is llm-d-router's (its image, or a Role that lets it read llm-d.ai
objectives), whose EPP reads llm-d.ai and ignores the x-k8s.io objects once both CRDs are installed
(llm-d/llm-d-router pkg/epp/server/controller_config.go)."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.api.releases import Target, default_target, gie, router, target_of_epp
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.index import Index, PoolGroup


def group_target(index: Index, group: PoolGroup, asked: Target) -> tuple[Target, str | None]:
    """(the target the group's objects are written for, why it is not `asked`, or None)."""
    found = _epp_image(group)
    stream = target_of_epp(found[1]) if found else None
    if stream is None and _role_reads_router_objectives(index, group):
        stream = default_target(router())
        found = None
    if stream is None:
        if found and asked.project != gie():
            document, image = found
            raise InputError(
                f"{where(document.index, document.source)}: --target-version {asked.name}, but the EPP "
                f"image {image} is not {asked.project.project}'s and its Role reads no llm-d.ai "
                f"objectives: it reads them in {api().cluster.api_version('objective')}; render the "
                f"{asked.chart.name} chart, "
                "or pass a GIE --target-version"
            )
        return asked, None
    if asked.project == stream.project:
        return asked, None
    source = f"the EPP image {found[1]}" if found else "the EPP's Role, which reads llm-d.ai objectives"
    return stream, (
        f"the stream's EPP is {stream.project.project}'s ({source}), so its objects are written for "
        f"{stream.name}: objectives in {stream.objective_api_version}, which that EPP prefers (it "
        "ignores x-k8s.io objectives once llm-d.ai's CRDs are installed)"
    )


def _epp_image(group: PoolGroup):
    """(document, image) of the Deployment whose container runs the EPP of this pool (its --pool-name), or None:
    what update_epp_flags found as it read the group's Deployments."""
    found = group.epp_image
    return found if found is not None and isinstance(found[1], str) else None


def _role_reads_router_objectives(index: Index, group: PoolGroup) -> bool:
    plural, _, group_name = api().cluster.resources.llmd_objective.partition(".")
    for kind in ("Role", "ClusterRole"):
        for document in index.of_kind(kind, group.documents):
            if not document.contains(group_name):
                continue
            for rule in document.data.get("rules") or []:
                if (
                    isinstance(rule, dict)
                    and group_name in (rule.get("apiGroups") or [])
                    and plural in (rule.get("resources") or [])
                ):
                    return True
    return False

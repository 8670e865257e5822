"""A GKE HealthCheckPolicy health check with a port and no portSpecification gets USE_FIXED_PORT, what an unset
one means by GKE's own description, so that GKE's CRD, whose CEL rules refuse it as rendered, takes it
(mapping.yaml's health_check)."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.api.paths import containers
from infgw_postrender.postrender.rewrites.job import Job


def fix_health_check_port(job: Job) -> None:
    table = api().health_check
    for document in job.index.of_kind(table.kind, job.group.own):
        if not document.contains("port"):
            continue
        # as the charts render it, a splice of the text beside the port: no parse (one a release, issue 33)
        spliced = document.add_beside(tuple(table.config_path.split(".")), "port", "portSpecification",
                                      table.port_specification)  # fmt: skip
        if spliced is not None:
            for name in spliced:
                _record(job, document, name)
            continue
        for at, config in list(containers(document.data, table.config_path)):
            checks = [
                name
                for name, check in config.items()
                if name.endswith("HealthCheck")
                and isinstance(check, dict)
                and "port" in check
                and "portSpecification" not in check
            ]
            for name in checks:
                document.set(at + (name, "portSpecification"), table.port_specification)
                _record(job, document, name)


def _record(job: Job, document, name: str) -> None:
    table = api().health_check
    job.index.record(
        document,
        "updated",
        f"{table.config_path}.{name}.portSpecification -> "
        f"{table.port_specification} (its port; GKE's CRD refuses a port without it)",
    )

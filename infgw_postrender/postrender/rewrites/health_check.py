"""A GKE HealthCheckPolicy health check with a port and no portSpecification gets USE_FIXED_PORT, what an unset
one means by GKE's own description, so that GKE's CRD, whose CEL rules refuse it as rendered, takes it
(mapping.yaml's health_check)."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.postrender.rewrites.job import Job


def fix_health_check_port(job: Job) -> None:
    table = api().health_check
    keys = tuple(table.config_path.split("."))
    for document in job.index.of_kind(table.kind, job.group.own):
        if not document.contains("port"):
            continue
        config = document.data
        for key in keys:
            config = config.get(key) if isinstance(config, dict) else None
        if not isinstance(config, dict):
            continue
        checks = [name for name, check in config.items() if name.endswith("HealthCheck") and isinstance(check, dict)
                  and "port" in check and "portSpecification" not in check]
        if not checks:
            continue

        def specify(policy: dict) -> None:
            target = policy
            for key in keys:
                target = target[key]
            for name in checks:
                target[name]["portSpecification"] = table.port_specification

        document.rewrite(keys[:1], specify)
        for name in checks:
            job.index.record(document, "updated", f"{table.config_path}.{name}.portSpecification -> "
                             f"{table.port_specification} (its port; GKE's CRD refuses a port without it)")

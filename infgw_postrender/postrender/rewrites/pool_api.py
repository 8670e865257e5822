"""The alpha pool becomes a v1 pool: the field conversion of ../pool.py, with the EPP Service's port."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.pool import convert_pool
from infgw_postrender.postrender.rewrites.job import Job


def convert_alpha_pool(job: Job) -> None:
    document = job.group.document
    if not document.contains(api().pool.alpha_api_version) and not document.contains("\\"):
        return  # not written anywhere, not even escaped: a GA pool, not parsed only to be told it is one
    # the entries it converts, parsed alone: not the metadata, which a rename splices (issue 33)
    changes, assumed = document.rewrite(("apiVersion", "spec", "status"), lambda pool: _converted(job, pool))
    entry = job.index.entry(document)
    for change in changes:
        entry.record("converted", change)
    entry.assume(*assumed)


def _converted(job: Job, pool: dict) -> tuple[list[str], list[str]]:
    """convert_pool() of an alpha pool, checked first; nothing for a GA one. Its kind is the group's: the index
    told pools by their kind."""
    group, document = job.group, job.group.document
    if pool.get("apiVersion") != api().pool.alpha_api_version:
        return [], []
    spec = pool.get("spec")
    if not isinstance(spec, dict):
        raise InputError(
            f"{where(document.index, document.source)}: InferencePool {group.pool}: spec is not a mapping; "
            "fix the chart's output"
        )
    extension = spec.get("extensionRef")
    if not isinstance(extension, dict) or not extension.get("name"):
        # GIE v1.0.0-v1.5.0's v1 CRD requires endpointPickerRef; v1.6.0's does not (#2898), but its api/v1 says it
        # "is still required by most implementations" (reason EndpointPickerRefMissing): no EPP, no traffic
        raise InputError(
            f"{where(document.index, document.source)}: InferencePool {group.pool} has no "
            "spec.extensionRef.name, and a v1 pool is served only through endpointPickerRef (its EPP "
            "Service; most Gateways report EndpointPickerRefMissing without it); render the pool with "
            "its EPP (the inferencepool chart's inferenceExtension) and run again"
        )
    port = None if "portNumber" in extension else _epp_port(job)  # the Service is read only when it is needed
    return convert_pool(pool, port)


def _epp_port(job: Job) -> int | None:
    port_name = api().epp.grpc_port_name
    for document in job.index.of_kind("Service", job.group.documents):
        if document.name == job.group.epp:
            spec = document.data.get("spec")
            ports = spec.get("ports") if isinstance(spec, dict) else None
            ports = [port for port in ports if isinstance(port, dict)] if isinstance(ports, list) else []
            named = [port for port in ports if port.get("name") == port_name] or ports[:1]
            number = named[0].get("port") if named else None
            # a Service written otherwise is the API server's to refuse; the pool takes the chart's port meanwhile
            return number if isinstance(number, int) and not isinstance(number, bool) else None
    return None

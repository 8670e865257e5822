"""The EPP's pool flags name the GA pool and group; an EPP image too old to serve v1 pools is refused."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from infgw_postrender.api.mapping import api, ga_group
from infgw_postrender.api.paths import containers
from infgw_postrender.api.versions import parse_version
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.stream import Document


def update_epp_flags(job: Job) -> None:
    epp = api().epp
    for document in job.index.of_kind("Deployment", job.group.documents):
        for at, container in list(containers(document.data, epp.containers_path)):
            args = container.get("args")
            if isinstance(args, list) and flag_value(args, epp.pool_name_flags)[1] in (
                job.group.pool,
                job.group.final_pool,
            ):
                _update_container(job, document, at, container)


def _update_container(job: Job, document: Document, at: tuple, container: dict) -> None:
    epp = api().epp
    final_pool = job.group.final_pool
    args = container["args"]
    changes = []
    position, value = flag_value(args, epp.pool_name_flags)
    if document.set(at + ("args", position), _flag_text(args[position], value, final_pool)):
        changes.append(f"EPP pool name flag -> {final_pool}")
    position, value = flag_value(args, epp.pool_group_flags)
    if position is not None and document.set(at + ("args", position), _flag_text(args[position], value, ga_group())):
        changes.append(f"--pool-group -> {ga_group()}")
    legacy = [flag for flag in epp.legacy_flags if flag in args]
    image = container.get("image")
    if image is not None and not isinstance(image, str):
        raise InputError(
            f"{where(document.index, document.source)}: the EPP container's image is {image!r}, not a string; quote it"
        )
    tag = _image_version(image or "")
    if legacy or (tag is not None and tag < parse_version(epp.ga_image_since)):
        # it would watch v1alpha2 pools only: the converted pool would have no EPP serving it
        # a chart that renders single-dash flags is itself too old: a newer image would still get those flags
        fix = (
            f"render the GA inferencepool chart (v{epp.ga_image_since} or later) for this release"
            if legacy
            else f"set inferenceExtension.image.tag to v{epp.ga_image_since} or later"
        )
        raise InputError(
            f"{where(document.index, document.source)}: the EPP image {image} predates "
            f"v{epp.ga_image_since}"
            + (f" (single-dash flags {', '.join(legacy)})" if legacy else "")
            + f" and cannot serve the converted v1 InferencePool {final_pool}; {fix}"
        )
    for change in changes:
        job.index.record(document, "updated", change)


def flag_value(args: list, flags: Sequence[str]) -> tuple[int | None, Any]:
    """(index of the argument that holds the value, the value) for `--flag value` or `--flag=value`."""
    for position, arg in enumerate(args):
        text = str(arg)
        for flag in flags:
            if text == flag and position + 1 < len(args):
                return position + 1, args[position + 1]
            if text.startswith(flag + "="):
                return position, text[len(flag) + 1 :]
    return None, None


def _flag_text(arg: Any, old_value: Any, new_value: str) -> str:
    """The argument with its value replaced, in the same form (`value` or `--flag=value`)."""
    text = str(arg)
    return new_value if text == str(old_value) else text[: len(text) - len(str(old_value))] + new_value


def _image_version(image: str):
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    try:
        return parse_version(tag)
    except ValueError:
        return None

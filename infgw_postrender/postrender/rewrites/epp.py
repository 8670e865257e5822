"""The EPP's pool flags name the GA pool and group; an EPP image too old to serve v1 pools is refused."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from infgw_postrender.api.mapping import api, ga_group
from infgw_postrender.api.paths import containers
from infgw_postrender.api.versions import parse_version
from infgw_postrender.errors import InputError, where
from infgw_postrender.postrender.rewrites.job import Job
from infgw_postrender.postrender.stream import Document


class Container(NamedTuple):
    """A container of a Deployment, with args: `replace(position, text)` changes one of them (a splice of the text,
    or a set of the parsed tree)."""

    document: Document
    args: list
    image: Any
    replace: Callable[[int, str], bool]


def update_epp_flags(job: Job) -> None:
    group = job.group
    for document in job.index.of_kind("Deployment", group.documents):
        for container in containers_with_args(document):
            position, value = flag_value(container.args, api().epp.pool_name_flags)
            if position is None:
                continue
            if group.epp_image is None:  # what the objectives are written for: the first EPP's image
                group.epp_image = (document, container.image)
            if value in (group.pool, group.final_pool):
                _update_container(job, container)


def containers_with_args(document: Document) -> list[Container]:
    """The Deployment's containers whose args are a list; read off the text as charts render them (args one-line
    strings, a block list: no parse, one a release, issue 33), parsed when written otherwise."""
    found = _from_text(document)
    if found is not None:
        return found
    return [
        Container(document, args, container.get("image"), document.setter(at + ("args",)))
        for at, container in containers(document.data, api().epp.containers_path)
        if isinstance(args := container.get("args"), list)
    ]


def _from_text(document: Document) -> list[Container] | None:
    keys = _containers_keys()
    items = document.peek_items(keys, ("args", "image")) if keys else None
    if items is None:
        return None
    found = []
    for item in items:
        args, image = item.get("args"), item.get("image")
        if ("args" in item and args is None) or ("image" in item and image is None):
            return None  # written otherwise: parsed, where the checks name what is wrong
        if args is None or not isinstance(args.value, list):
            continue  # no args, as the parsed path sees a container whose args are not a list
        if args.spans is None:
            return None  # a flow list: read, but no positions to splice at
        replace = document.replacer(list(zip(args.value, args.spans, strict=True)))
        found.append(Container(document, args.value, image.value if image else None, replace))
    return found


@functools.cache
def _containers_keys() -> tuple[str, ...] | None:
    """mapping.yaml's containers path as keys, when it is keys then `[]` (peek_items reads no other)."""
    path = api().epp.containers_path
    head = path.removesuffix("[]")
    return tuple(head.split(".")) if head != path and "[" not in head else None


def _update_container(job: Job, container: Container) -> None:
    """The pool flags of one EPP container changed; its image checked."""
    document, args, image, replace = container.document, container.args, container.image, container.replace
    epp = api().epp
    final_pool = job.group.final_pool
    changes = []
    position, value = flag_value(args, epp.pool_name_flags)
    assert position is not None  # update_epp_flags chose the container by this flag's value
    if replace(position, _flag_text(args[position], value, final_pool)):
        changes.append(f"EPP pool name flag -> {final_pool}")
    position, value = flag_value(args, epp.pool_group_flags)
    if position is not None and replace(position, _flag_text(args[position], value, ga_group())):
        changes.append(f"--pool-group -> {ga_group()}")
    legacy = [flag for flag in epp.legacy_flags if flag in args]
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

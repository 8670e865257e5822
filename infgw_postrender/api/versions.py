"""Release versions (v1.0.0, 1.3.0): the one parser, so that chart, image and target versions compare alike."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.errors import InputError


def parse_version(text: str):
    """A semver.Version from `v1.2.3` or `1.2.3`; ValueError when it is not one."""
    import semver  # imported here: most post-renders never compare versions, and it costs start-up time

    return semver.Version.parse(str(text).removeprefix("v"))


def parse_target_version(text: str):
    """The --target-version (the GA chart release the objects are written for)."""
    try:
        return parse_version(text)
    except ValueError:
        raise InputError(f"--target-version {text!r}: expected a release such as v1.0.0 or v1.3.0") from None


def target_has_rewrites(target_version: str) -> bool:
    """Whether that release serves InferenceModelRewrite (model renames and traffic splits carry over)."""
    return parse_target_version(target_version) >= parse_version(api().model_rewrite.since)

"""Release versions (v1.0.0, 1.3.0): the one parser, so that chart, image and target versions compare alike."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=256)  # a stream of a thousand releases names the same few images
def parse_version(text: str):
    """A semver.Version from `v1.2.3` or `1.2.3`; ValueError when it is not one."""
    import semver  # imported here: most post-renders never compare versions, and it costs start-up time

    return semver.Version.parse(str(text).removeprefix("v"))

"""Release versions (v1.0.0, 1.3.0): the one parser, so that chart, image and target versions compare alike.

SemVer 2.0 here, not the semver package's: importing that costs every post-render 3 ms at start, a twentieth of
rendering one chart (issue 33). tests/api/test_versions.py holds it to semver.Version's parsing and order."""

from __future__ import annotations

import functools
import re

_IDENTIFIER = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = re.compile(
    r"(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    rf"(?:-(?P<prerelease>{_IDENTIFIER}(?:\.{_IDENTIFIER})*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
MAX_LENGTH = 255  # as semver's: no version is longer, and numeric identifiers stay small


class Version:
    """A version ordered by SemVer precedence: numbers, then a release above its pre-releases, whose identifiers
    compare as numbers when numeric (below any alphanumeric one); build metadata does not count."""

    __slots__ = ("major", "minor", "patch", "prerelease", "build", "_key")

    def __init__(self, text: str) -> None:
        found = _SEMVER.match(text) if len(text) <= MAX_LENGTH else None
        if found is None:
            raise ValueError(f"{text} is not a SemVer version")
        self.major, self.minor, self.patch = (int(part) for part in found.group("major", "minor", "patch"))
        self.prerelease: str | None = found.group("prerelease")
        self.build: str | None = found.group("build")
        identifiers = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in (self.prerelease or "").split(".")
        )
        # a release (1) above its pre-releases (0)
        self._key = (self.major, self.minor, self.patch, 0 if self.prerelease else 1, identifiers)

    def __str__(self) -> str:
        prerelease = f"-{self.prerelease}" if self.prerelease else ""
        build = f"+{self.build}" if self.build else ""
        return f"{self.major}.{self.minor}.{self.patch}{prerelease}{build}"

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return self._key == other._key if isinstance(other, Version) else NotImplemented

    def __lt__(self, other: Version) -> bool:
        return self._key < other._key if isinstance(other, Version) else NotImplemented

    def __le__(self, other: Version) -> bool:
        return self._key <= other._key if isinstance(other, Version) else NotImplemented

    def __gt__(self, other: Version) -> bool:
        return self._key > other._key if isinstance(other, Version) else NotImplemented

    def __ge__(self, other: Version) -> bool:
        return self._key >= other._key if isinstance(other, Version) else NotImplemented


@functools.lru_cache(maxsize=256)  # a stream of a thousand releases names the same few images
def parse_version(text: str) -> Version:
    """A Version from `v1.2.3` or `1.2.3`; ValueError when it is not one."""
    return Version(str(text).removeprefix("v"))

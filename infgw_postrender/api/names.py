"""Kubernetes name rules and the chart's own naming, so that names we derive are valid and predictable."""

from __future__ import annotations

import re

from infgw_postrender import defaults
from infgw_postrender.errors import InputError

# The post-renderer's placeholder for the release being rendered, allowed inside names it is given.
TEMPLATE = "{release}"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_MAX = 63


def check_label(value: str, flag: str) -> str:
    """A DNS-1123 label, or an InputError naming the flag."""
    if len(value) > LABEL_MAX or not _LABEL.match(value):
        raise InputError(
            f"{flag} {value!r}: not a DNS-1123 label (lower-case letters, digits and '-', "
            f"starting and ending with a letter or digit, at most {LABEL_MAX} characters)"
        )
    return value


def check_weight(weight: int, flag: str = "--ga-weight") -> int:
    """A route weight as this tool takes it: a percentage."""
    if not 0 <= weight <= 100:
        raise InputError(f"{flag} {weight}: out of range; give a percentage from 0 to 100")
    return weight


def check_name_flag(value: str, flag: str) -> str:
    """A name flag's value: a DNS-1123 label, where {release} may stand for the release's name."""
    check_label(value.replace(TEMPLATE, "x"), flag)
    return value


def weight_flag(value: object, flag: str) -> int:
    """A weight flag's value: a whole number from 0 to 100."""
    try:
        weight = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise InputError(f"{flag} {value!r}: not a whole number; give a percentage from 0 to 100") from None
    return check_weight(weight, flag)


def epp_name(release: str) -> str:
    """The chart's `<release truncated to 40>-epp` (gateway-api-inference-extension.name)."""
    return release.lower().strip()[:40] + "-epp"


RENAME_SUFFIX = defaults.GA_SUFFIX  # what a GA object gets when the alpha release already has its name


def with_suffix(name: str, suffix: str = RENAME_SUFFIX) -> str:
    """`name` + suffix, the base cut so that the result stays a valid label."""
    base = name[: LABEL_MAX - len(suffix)].rstrip("-")
    return base + suffix

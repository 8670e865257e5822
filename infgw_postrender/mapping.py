"""The alpha -> GA mapping, loaded once from mapping.yaml beside this module."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=1)
def mapping() -> dict[str, Any]:
    from infgw_postrender import blockyaml

    value, _ = blockyaml.parse(resources.files(__package__).joinpath("mapping.yaml").read_text())
    return value


def alpha_group() -> str:
    return mapping()["groups"]["alpha"]


def ga_group() -> str:
    return mapping()["groups"]["ga"]

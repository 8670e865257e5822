"""The alpha -> GA mapping, loaded once from mapping.yaml beside this module."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def mapping() -> dict[str, Any]:
    from infgw_postrender.yaml import reader

    # a plain path, not importlib.resources: that import alone costs more than reading the file (start-up time)
    with open(os.path.join(os.path.dirname(__file__), "mapping.yaml"), encoding="utf-8") as handle:
        value, _ = reader.parse(handle.read())
    return value


def alpha_group() -> str:
    return mapping()["groups"]["alpha"]


def ga_group() -> str:
    return mapping()["groups"]["ga"]

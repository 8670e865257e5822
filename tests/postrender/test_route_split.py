"""Issue 10.5: a split within a rule keeps every ratio. Within the rule alpha:GA is exactly the requested
percentage, and alpha+GA keeps its share against the rule's other backends (integer weights scaled as needed).
Checked over random rules with hypothesis, against exact fractions."""

from __future__ import annotations

from fractions import Fraction

from conftest import ALPHA_GROUP, GA_GROUP
from hypothesis import given, settings
from hypothesis import strategies as st

from infgw_postrender.postrender.route import rewrite_route

POOL = {"kind": "InferencePool"}


def route(alpha_weight: int | None, others: list[int | None]) -> dict:
    alpha = {**POOL, "group": ALPHA_GROUP, "name": "alpha"} | ({} if alpha_weight is None else {"weight": alpha_weight})
    refs = [{"name": f"svc-{i}", "port": 80} | ({} if w is None else {"weight": w}) for i, w in enumerate(others)]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {"rules": [{"backendRefs": [alpha, *refs]}]},
    }


def weight(ref: dict) -> int:
    return ref.get("weight", 1)


@settings(max_examples=300, deadline=None)
@given(
    alpha=st.one_of(st.none(), st.integers(1, 1000)),
    others=st.lists(st.one_of(st.none(), st.integers(0, 1000)), max_size=4),
    percent=st.integers(0, 100),
)
def test_both_ratios_hold_exactly(alpha, others, percent):
    before = route(alpha, others)
    refs = rewrite_route(before, "route", "alpha", "ga", percent).obj["spec"]["rules"][0]["backendRefs"]
    pools = {r["group"]: weight(r) for r in refs if r.get("kind") == "InferencePool"}
    rest = [r for r in refs if r.get("kind") != "InferencePool"]
    assert [r["name"] for r in rest] == [f"svc-{i}" for i in range(len(others))], "other backends stay, in order"
    alpha_new, ga_new = pools.get(ALPHA_GROUP, 0), pools[GA_GROUP]
    assert (ALPHA_GROUP in pools) == (percent < 100), "at 100 only the GA pool remains"
    share_before = alpha if alpha is not None else 1
    if alpha_new + ga_new:
        assert Fraction(ga_new, alpha_new + ga_new) == Fraction(percent, 100)
    others_before = [1 if w is None else w for w in others]
    others_after = [weight(r) for r in rest]
    if any(others_before):  # the pools' share against the other backends, as before
        assert Fraction(alpha_new + ga_new, sum(others_after)) == Fraction(share_before, sum(others_before))
    for before_w, after_w in zip(
        others_before, others_after, strict=True
    ):  # and the other backends keep their own ratios
        assert Fraction(after_w * sum(others_before) or 0) == Fraction(before_w * sum(others_after) or 0)
    assert all(0 <= weight(r) <= 1_000_000 for r in refs)

"""`infgw-migrate install|upgrade|template` hands its post-renderer flags to Helm as --post-renderer-args: what the
post-renderer's own command line makes of them is what the user asked for, field by field."""

from __future__ import annotations

import dataclasses

from infgw_postrender.cli.postrender import as_args, command, options_of
from infgw_postrender.postrender.pipeline import Options

EVERY_FIELD_SET = Options(
    pool_name="vllm-ga",
    release="vllm-ga",
    alpha_pool="vllm",
    alpha_namespace="llm-alpha",
    ga_weight=0,
    route_name="chat",
    gateway="gw/infra",
    route_from="route.yaml",
    objectives=["chat=2", "batch=-1"],
    objectives_from="models.yaml",
    priority_map="Critical=2,Standard=1,Sheddable=-1",
    target_version="v1.3.0",
    model_routing=True,
)


def parsed(args: list[str]) -> dict:
    return command.make_context("infgw-postrender", list(args)).params


def test_every_option_set_reaches_the_post_renderer_as_given():
    defaults = Options()
    assert all(getattr(EVERY_FIELD_SET, f.name) != getattr(defaults, f.name) for f in dataclasses.fields(Options)), (
        "set every field, so that each one's flag is checked"
    )
    params = parsed(as_args(EVERY_FIELD_SET, report_path="r.json", error_file="e.txt", quiet=True))
    assert (params.pop("report_path"), params.pop("error_file"), params.pop("quiet")) == ("r.json", "e.txt", True)
    assert (params.pop("offline"), params.pop("kube_context")) == (False, None)  # the command's, not the render's
    assert options_of(params) == EVERY_FIELD_SET


def test_defaults_are_left_out_and_weight_zero_is_kept():
    assert as_args(Options()) == []
    assert as_args(Options(alpha_pool="vllm", ga_weight=0)) == ["--alpha-pool=vllm", "--ga-weight=0"]
    params = parsed([])
    assert (params.pop("report_path"), params.pop("error_file"), params.pop("quiet")) == (None, None, False)
    assert (params.pop("offline"), params.pop("kube_context")) == (False, None)
    assert options_of(params) == Options()

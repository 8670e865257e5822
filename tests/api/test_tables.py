"""Issue 22.4: more pure decisions as tables, each checked against the rule it implements: Kubernetes' DNS-1123
label, the chart's EPP name, upstream's own priorities for the three criticalities, Gateway API's weights, and
YAML as an independent parser (PyYAML) reads the emitter's scalars back."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml
from conftest import ALPHA_GROUP, FIXTURES, GA_GROUP

from infgw_postrender.api.names import check_label, epp_name, with_suffix
from infgw_postrender.errors import InputError
from infgw_postrender.postrender.objectives import parse_objective_flag, parse_priority_map
from infgw_postrender.postrender.route import split_weights
from infgw_postrender.yaml import emitter


@pytest.mark.parametrize(
    "name, valid",
    [
        ("vllm", True), ("vllm-ga", True), ("a", True), ("0abc", True), ("a" * 63, True),
        ("a" * 64, False), ("Vllm", False), ("-vllm", False), ("vllm-", False), ("vl_lm", False),
        ("vl.lm", False), ("", False), ("vllm ga", False),
    ],
)  # fmt: skip
def test_names_are_dns_1123_labels(name, valid):
    if valid:
        assert check_label(name, "--alpha-pool") == name
    else:
        with pytest.raises(InputError, match=r"^--alpha-pool '.*': not a DNS-1123 label"):
            check_label(name, "--alpha-pool")


@pytest.mark.parametrize(
    "release, epp",
    [("vllm", "vllm-epp"), ("a" * 45, "a" * 40 + "-epp"), ("vllm-llama3-8b-instruct", "vllm-llama3-8b-instruct-epp")],
)
def test_the_chart_s_epp_name_truncates_the_release_to_40(release, epp):
    assert epp_name(release) == epp  # the chart's helper: `<release truncated to 40>-epp`


@pytest.mark.parametrize(
    "name, renamed",
    [("vllm", "vllm-ga"), ("a" * 63, "a" * 60 + "-ga"), ("a" * 59 + "-bbb", "a" * 59 + "-ga")],
)
def test_a_suffixed_name_stays_a_label(name, renamed):
    assert with_suffix(name) == renamed and len(renamed) <= 63


def test_the_default_priorities_are_upstream_s_own_rewrite_of_the_models():
    """fixtures/objects: upstream rewrote its v0.3.0 InferenceModels as v1.0.0 InferenceObjectives; Standard
    became 1 and Critical 2. Sheddable has no twin there: the EPP sheds a negative priority, so -1."""
    models = {m["metadata"]["name"]: m["spec"].get("criticality", "Standard") for m in
              yaml.safe_load_all((FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml").read_text()) if m}  # fmt: skip
    objectives = {o["metadata"]["name"]: o["spec"]["priority"] for o in
                  yaml.safe_load_all((FIXTURES / "objects" / "v1.0.0-inferenceobjectives.yaml").read_text()) if o}  # fmt: skip
    priorities = parse_priority_map(None)
    assert {name: priorities[criticality] for name, criticality in models.items()} == objectives
    assert priorities["Sheddable"] == -1


@pytest.mark.parametrize(
    "text, changed",
    [("Critical=3", {"Critical": 3}), ("Standard=0,Sheddable=-5", {"Standard": 0, "Sheddable": -5}),
     (" Critical = 4 ", {"Critical": 4})],
)  # fmt: skip
def test_a_priority_map_overrides_the_defaults(text, changed):
    assert parse_priority_map(text) == {**parse_priority_map(None), **changed}


@pytest.mark.parametrize(
    "text, words",
    [("Urgent=3", "unknown criticality 'Urgent'"), ("Critical=high", "priority 'high' is not an integer")],
)
def test_a_wrong_priority_map_names_what_is_wrong(text, words):
    with pytest.raises(InputError) as raised:
        parse_priority_map(text)
    assert words in raised.value.format_message()


@pytest.mark.parametrize(
    "text, parsed",
    [("food-review=2", ("food-review", 2)), ("base=-1", ("base", -1)), ("x=0", ("x", 0))],
)
def test_objective_flags(text, parsed):
    assert parse_objective_flag(text) == parsed


@pytest.mark.parametrize("text", ["food-review", "Food=2", "food=two"])
def test_objective_flags_people_mistype(text):
    with pytest.raises(InputError, match="^--objective"):
        parse_objective_flag(text)


# Gateway API: weights are relative within a rule. Beside other backends, the two pools keep their combined share
# of the rule (Fraction check) and split it exactly (100 - w):w, in the smallest whole weights that do both.
@pytest.mark.parametrize(
    "share, weight, others, scale",
    [
        (10, 50, True, 1), (1, 50, True, 2), (3, 30, True, 10), (100, 33, True, 1), (7, 0, True, 1),
        (7, 100, True, 1), (0, 50, True, 1), (5, 50, False, 1), (1, 1, True, 100),
    ],
)  # fmt: skip
def test_split_weights_keep_both_ratios_exact(share, weight, others, scale):
    found_scale, alpha, ga = split_weights(share, weight, others)
    assert found_scale == scale
    if not others:
        assert (alpha, ga) == (100 - weight, weight)
        return
    assert alpha + ga == share * scale  # the pools' share of the rule, against the others scaled alike
    if alpha + ga:
        assert Fraction(ga, alpha + ga) == Fraction(weight, 100)


@pytest.mark.parametrize(
    "value",
    [
        "yes", "no", "on", "off", "true", "Null", "~", "1.0", "0x1F", "1e3", "010", "-", "a: b", "#x", "- item",
        "'quoted'", '"dq"', "trailing ", " leading", "tab\tin", "multi\nline", "", "@at", "`tick", "%pct",
        "{flow}", "[list]", "*alias", "&anchor", "!tag", "|", ">", "plain-text", "vllm-ga", "über", "\x07bell",
    ],
)  # fmt: skip
def test_a_string_the_emitter_writes_reads_back_as_the_same_string(value):
    """Whatever style it picks, an independent YAML parser reads the same string, never a bool, null or number."""
    for style in ("plain", "'", '"'):
        assert yaml.safe_load("key: " + emitter.scalar_text(value, style)) == {"key": value}, (value, style)


def test_group_names_the_tests_use_are_the_apis_groups():
    assert (ALPHA_GROUP, GA_GROUP) == ("inference.networking.x-k8s.io", "inference.networking.k8s.io")

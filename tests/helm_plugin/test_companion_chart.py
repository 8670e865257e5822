"""charts/infgw-migration, rendered by the real Helm 3 and Helm 4: valid objects for every stage of the split,
bad values refused by its values.schema.json, and the same objects as the post-renderer generates."""

from __future__ import annotations

import json

import pytest
from conftest import ALPHA_GROUP, GA_GROUP, REPO, docs, group_of

CHART = str(REPO / "charts" / "infgw-migration")
OBJECTIVES = [{"name": "food-review", "priority": 2}, {"name": "batch", "priority": 0}]
MODELS = [{"model": "food-review-1", "objective": "food-review"}]


def render(helm, *values: str, check: bool = True, namespace: str = "llm"):
    return helm.run("template", "migration", CHART, "-n", namespace, *values, check=check)


def stage(weight: int) -> list[str]:
    return [
        "--set",
        "alphaPool=vllm,gaPool=vllm-ga",
        "--set",
        f"gaWeight={weight}",
        "--set-json",
        f"objectives={json.dumps(OBJECTIVES)}",
        "--set-json",
        f"modelObjectives={json.dumps(MODELS)}",
    ]


@pytest.mark.parametrize("weight", [0, 25, 50, 75, 100])  # asymmetric rows: swapped weights fail
def test_each_stage_renders_valid_objects(helm, schemas, weight):
    objects = docs(render(helm, *stage(weight)).stdout)
    for obj in objects:
        schemas.validate(obj)
        assert obj["metadata"]["namespace"] == "llm", "the release namespace is the objects' namespace"
    objectives = [o for o in objects if o["kind"] == "InferenceObjective"]
    assert [(o["metadata"]["name"], o["spec"]["priority"], o["spec"]["poolRef"]) for o in objectives] == [
        ("food-review", 2, {"group": GA_GROUP, "name": "vllm-ga"}),
        ("batch", 0, {"group": GA_GROUP, "name": "vllm-ga"}),
    ]
    [route] = [o for o in objects if o["kind"] == "HTTPRoute"]
    assert route["spec"]["parentRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "inference-gateway"}
    ]
    expected = ([] if weight == 100 else [(ALPHA_GROUP, "vllm", 100 - weight)]) + [(GA_GROUP, "vllm-ga", weight)]
    for rule in route["spec"]["rules"]:
        assert [(b["group"], b["name"], b["weight"]) for b in rule["backendRefs"]] == expected
    # the model rule turns the model name (set by body-based routing) into the objective header
    model_rule = route["spec"]["rules"][0]
    assert model_rule["matches"] == [
        {"headers": [{"type": "Exact", "name": "X-Gateway-Model-Name", "value": "food-review-1"}]}
    ]
    assert model_rule["filters"][0]["requestHeaderModifier"]["set"] == [
        {"name": "x-gateway-inference-objective", "value": "food-review"}
    ]
    assert "matches" not in route["spec"]["rules"][-1], "the last rule takes every other request"


def test_no_weight_no_route(helm):
    objects = docs(render(helm, "--set", "gaPool=vllm-ga", "--set-json", f"objectives={json.dumps(OBJECTIVES)}").stdout)
    assert [o["kind"] for o in objects] == ["InferenceObjective", "InferenceObjective"]


def test_default_values_render_nothing_and_lint(helm):
    assert docs(render(helm).stdout) == []
    helm.run("lint", CHART)


@pytest.mark.parametrize(
    "values, field",
    [
        (["--set", "alphaPool=vllm,gaPool=vllm-ga,gaWeight=150"], "gaWeight"),
        (["--set", "alphaPool=vllm,gaPool=vllm-ga,gaWeight=-1"], "gaWeight"),
        (["--set", "alphaPool=vllm,gaPool=Not_A_Name,gaWeight=50"], "gaPool"),
        (["--set-json", 'objectives=[{"name":"x","priority":"high"}]', "--set", "gaPool=vllm-ga"], "priority"),
    ],
    ids=["weight-150", "weight-negative", "bad-pool-name", "priority-not-integer"],
)
def test_schema_refuses_bad_values(helm, values, field):
    done = render(helm, *values, check=False)
    assert done.returncode != 0 and done.stdout == ""
    assert "schema" in done.stderr and field in done.stderr, done.stderr


@pytest.mark.parametrize(
    "values, message",
    [
        ("gaPool=vllm-ga,gaWeight=50", "alphaPool is required with gaWeight"),
        ("alphaPool=vllm,gaWeight=50", "gaPool is required with gaWeight"),
    ],
)
def test_a_missing_pool_is_said_to_be_required(helm, values, message):
    """Issue 11.8: not a failed pattern match on the empty default, but what is missing and what it is."""
    done = render(helm, "--set", values, check=False)
    assert done.returncode != 0 and done.stdout == "" and message in done.stderr, done.stderr


@pytest.mark.parametrize("weight", [0, 25, 50, 75, 100])  # asymmetric rows: swapped weights fail
def test_same_objects_as_the_post_renderer(helm, weight):
    """One stage of the split done both ways: the companion chart, and the post-renderer on the GA chart."""

    def essence(objects):
        return sorted(
            (
                o["apiVersion"],
                o["kind"],
                o["metadata"]["name"],
                o["metadata"].get("namespace"),
                json.dumps(o["spec"], sort_keys=True),
            )
            for o in objects
        )

    rendered = docs(
        helm.template(
            "vllm-ga",
            "inferencepool-v1.0.0",
            namespace="llm",
            post_render=[
                "--alpha-pool=vllm",
                f"--ga-weight={weight}",
                "--objective=food-review=2",
                "--objective=batch=0",
            ],
        )
    )
    generated = [
        o for o in rendered if o["metadata"].get("annotations", {}).get("infgw-migrate.io/generated") == "true"
    ]
    chart = docs(
        render(
            helm,
            "--set",
            f"alphaPool=vllm,gaPool=vllm-ga,gaWeight={weight}",
            "--set-json",
            f"objectives={json.dumps(OBJECTIVES)}",
        ).stdout
    )
    assert {group_of(o) for o in chart} == {"gateway.networking.k8s.io", ALPHA_GROUP}
    assert essence(chart) == essence(generated)


def test_objectives_for_llm_d_routers_epp(helm, schemas):
    """Issue 19.4: with `objectiveApiVersion: llm-d.ai/v1alpha2` the chart renders the objectives llm-d-router's EPP
    reads, valid against its CRDs, and the same as the post-renderer writes for the llm-d-router-gateway chart;
    a group neither EPP reads is refused by values.schema.json."""
    values = [
        "--set",
        "gaPool=vllm-ga,objectiveApiVersion=llm-d.ai/v1alpha2",
        "--set-json",
        f"objectives={json.dumps(OBJECTIVES)}",
    ]
    chart = docs(render(helm, *values).stdout)
    for obj in chart:
        schemas.validate(obj, release="llm-d-router/v0.10.0")
    rendered = docs(
        helm.template(
            "vllm-ga",
            "llm-d-router-gateway-v0.10.0",
            namespace="llm",
            post_render=["--objective=food-review=2", "--objective=batch=0"],
        )
    )
    generated = [
        o for o in rendered if o["metadata"].get("annotations", {}).get("infgw-migrate.io/generated") == "true"
    ]
    assert {o["apiVersion"] for o in generated} == {"llm-d.ai/v1alpha2"}
    assert sorted((o["metadata"]["name"], json.dumps(o["spec"], sort_keys=True)) for o in chart) == sorted(
        (o["metadata"]["name"], json.dumps(o["spec"], sort_keys=True)) for o in generated
    )
    refused = render(helm, "--set", "gaPool=vllm-ga,objectiveApiVersion=inference.networking.k8s.io/v1", check=False)
    assert refused.returncode != 0 and "objectiveApiVersion" in refused.stderr

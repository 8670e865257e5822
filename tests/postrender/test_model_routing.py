"""Issue 13.2: model names keep routing. Body-based routing copies the body's model into X-Gateway-Model-Name
(upstream pkg/bbr/handlers/request.go, v1.0.0: modelHeader); a v1 EPP picks the objective from
x-gateway-inference-objective (pkg/epp/metadata/consts.go: ObjectiveKey). A route rule per model joins the two."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import ALPHA_GROUP, ALPHA_RELEASE, FIXTURES, GA_GROUP, REPO, docs, install_alpha_stack, run_postrender

MODEL_HEADER, OBJECTIVE_HEADER = "X-Gateway-Model-Name", "x-gateway-inference-objective"
MODELS = FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml"
FLAGS = ["--alpha-pool", ALPHA_RELEASE, "--ga-weight", "30", "--objectives-from", str(MODELS)]


def alpha_models() -> list[dict]:
    return [m for m in yaml.safe_load_all(MODELS.read_text()) if m]


def the_route(text: str) -> dict:
    [route] = [o for o in docs(text) if o["kind"] == "HTTPRoute"]
    return route


def test_each_model_gets_a_rule_that_sets_its_objective_with_the_split(helm, schemas):
    out = helm.template("vllm-ga", "inferencepool-v1.0.0", post_render=[*FLAGS, "--model-routing"])
    route = the_route(out)
    schemas.validate(route)  # the HTTPRoute CRD's schema and CEL rules
    split = [(ALPHA_GROUP, ALPHA_RELEASE, 70), (GA_GROUP, "vllm-ga", 30)]
    expected = [(m["spec"]["modelName"], m["metadata"]["name"]) for m in alpha_models()]
    rules = route["spec"]["rules"]
    assert len(rules) == len(expected) + 1 and "matches" not in rules[-1], "a catch-all rule comes last"
    for rule, (model, objective) in zip(rules[:-1], expected, strict=True):
        assert rule["matches"] == [{"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": model}]}]
        assert rule["filters"] == [
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": OBJECTIVE_HEADER, "value": objective}]},
            }
        ]
    for rule in rules:
        assert [(b["group"], b["name"], b["weight"]) for b in rule["backendRefs"]] == split
    objectives = {o["metadata"]["name"] for o in docs(out) if o["kind"] == "InferenceObjective"}
    assert {objective for _, objective in expected} <= objectives, "every header value names an objective of the pool"


@pytest.mark.e2e  # the chart rendered by the real Helm
def test_the_report_carries_the_model_name_over_on_condition(tmp_path):
    report = tmp_path / "report.json"
    stream = _stream()
    done = run_postrender(stream, *FLAGS, "--model-routing", "--report", str(report))
    assert done.returncode == 0, done.stderr
    entries = {e["name"]: e for e in json.loads(report.read_text())["objects"] if e["kind"] == "InferenceObjective"}
    food = entries["food-review"]
    assert not any(loss["what"].startswith("modelName") for loss in food["not_carried_over"])
    assert any("body-based routing is deployed" in assumption for assumption in food["assumed"])
    without = run_postrender(stream, *FLAGS, "--report", str(report))
    assert without.returncode == 0
    entries = {e["name"]: e for e in json.loads(report.read_text())["objects"] if e["kind"] == "InferenceObjective"}
    [loss] = [loss for loss in entries["food-review"]["not_carried_over"] if loss["what"].startswith("modelName")]
    assert "--model-routing" in loss["fix"]


def _stream() -> str:
    import subprocess

    from conftest import CHARTS, tool

    return subprocess.run(
        [
            tool("helm3"),
            "template",
            "vllm-ga",
            str(CHARTS / "inferencepool-v1.0.0"),
            "--set",
            "inferencePool.modelServers.matchLabels.app=vllm",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_the_companion_chart_renders_the_same_rules(helm):
    models = alpha_models()
    post_rendered = the_route(helm.template("vllm-ga", "inferencepool-v1.0.0", post_render=[*FLAGS, "--model-routing"]))
    values = [{"model": m["spec"]["modelName"], "objective": m["metadata"]["name"]} for m in models]
    chart = helm.run(
        "template",
        "migration",
        str(REPO / "charts" / "infgw-migration"),
        "-n",
        "default",
        "--set",
        f"alphaPool={ALPHA_RELEASE},gaPool=vllm-ga,gaWeight=30",
        "--set-json",
        f"modelObjectives={json.dumps(values)}",
    ).stdout
    assert the_route(chart)["spec"]["rules"] == post_rendered["spec"]["rules"]


@pytest.mark.e2e  # the chart rendered by the real Helm
def test_past_the_crds_rule_limit_the_post_renderer_refuses(tmp_path, schemas):
    many = [
        {
            "apiVersion": f"{ALPHA_GROUP}/v1alpha2",
            "kind": "InferenceModel",
            "metadata": {"name": f"model-{n}", "namespace": "default"},
            "spec": {"modelName": f"model-{n}", "criticality": "Standard", "poolRef": {"name": ALPHA_RELEASE}},
        }
        for n in range(16)
    ]
    path = tmp_path / "models.json"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": many}))
    args = ["--alpha-pool", ALPHA_RELEASE, "--ga-weight", "30", "--objectives-from", str(path), "--model-routing"]
    done = run_postrender(_stream(), *args)
    assert done.returncode == 2 and done.stdout == ""
    assert "16 models need 17 HTTPRoute rules and the HTTPRoute CRD allows 16" in done.stderr
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": many[:15]}))
    done = run_postrender(_stream(), *args)
    assert done.returncode == 0, done.stderr
    schemas.validate(the_route(done.stdout))  # 16 rules: the most the CRD allows, and it says yes


@pytest.mark.e2e  # the chart rendered by the real Helm
def test_model_routing_needs_the_models_and_a_generated_route():
    done = run_postrender(_stream(), "--alpha-pool", ALPHA_RELEASE, "--model-routing")
    assert done.returncode == 2
    assert "--model-routing: adds a rule per model to the route that --ga-weight generates" in done.stderr


def bbr_deployment(namespace: str = "default") -> dict:
    """As upstream's body-based-routing chart renders its router (templates/bbr.yaml, values.yaml at v1.0.0)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "body-based-router", "namespace": namespace},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "body-based-router"}},
            "template": {
                "metadata": {"labels": {"app": "body-based-router"}},
                "spec": {
                    "containers": [
                        {
                            "name": "bbr",
                            "image": "registry.k8s.io/gateway-api-inference-extension/bbr:v1.0.0",
                            "args": ["--streaming", "--v", "3"],
                            "ports": [{"containerPort": 9004}, {"containerPort": 9005}],
                        }
                    ]
                },
            },
        },
    }


@pytest.mark.parametrize("deployed", [True, False], ids=["with-bbr", "without-bbr"])
def test_detect_and_plan_say_whether_model_names_can_keep_routing(cluster, deployed):
    install_alpha_stack(cluster)
    if deployed:
        cluster.api.put(bbr_deployment())
    found = json.loads(cluster.migrate("detect", "-o", "json").stdout)
    plan = cluster.migrate("plan", "--path", "zero-downtime", "--alpha-pool", ALPHA_RELEASE, "-o", "json")
    assert plan.returncode == 0, plan.stderr
    notes = json.loads(plan.stdout)["notes"]
    if deployed:
        assert found["body_based_routing"] == [
            {
                "namespace": "default",
                "name": "body-based-router",
                "image": "registry.k8s.io/gateway-api-inference-extension/bbr:v1.0.0",
            }
        ]
        assert "body-based routing is deployed (default/body-based-router)" in found["model_routing"]
        assert any("--model-routing" in note and "is deployed" in note for note in notes)
    else:
        assert found["body_based_routing"] == []
        assert found["model_routing"].startswith("no body-based routing found")
        assert any(note.startswith("no body-based routing found") for note in notes)


@pytest.mark.parametrize("with_router", [True, False], ids=["router-in-snapshot", "no-deployments"])
def test_a_snapshot_says_whether_it_can_tell(cluster, tmp_path, with_router):
    """A snapshot without Deployments cannot show body-based routing: detect says it does not know, not that
    there is none."""
    items = alpha_models() + ([bbr_deployment()] if with_router else [])
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    done = cluster.migrate("detect", "--from-file", str(snapshot), "-o", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    if with_router:
        assert [b["name"] for b in found["body_based_routing"]] == ["body-based-router"]
        assert "is deployed (default/body-based-router)" in found["model_routing"]
    else:
        assert found["body_based_routing"] is None
        assert found["model_routing"].startswith("body-based routing: not known, the snapshot holds no Deployments")

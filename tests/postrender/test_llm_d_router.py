"""Issue 19: the llm-d-router-gateway chart (llm-d/llm-d-router v0.10.0, config/charts/llm-d-router-gateway), the
successor of GIE's inferencepool chart, rendered by both real Helms through the post-renderer. Its EPP
(image llm-d-router-endpoint-picker) reads InferenceObjective and InferenceModelRewrite in llm-d.ai/v1alpha2
(apix/v1alpha2/zz_generated.register.go:15 `GroupName = "llm-d.ai"`, from v0.9.0, #1169) and ignores the legacy
x-k8s.io objects once both CRDs are installed (pkg/epp/server/controller_config.go:78 and :85 at v0.10.0,
"EPP will prefer the new group and IGNORE legacy resources")."""

from __future__ import annotations

import json

import pytest
from conftest import ALPHA_GROUP, FIXTURES, GA_GROUP, docs, run_postrender

ALPHA_POOL = "vllm-llama3-8b-instruct"
GA_RELEASE = "vllm-llama3-8b-instruct-ga"
MODELS = FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml"
CHART = "llm-d-router-gateway-v0.10.0"
ROUTER = "llm-d-router/v0.10.0"
LLMD = "llm-d.ai/v1alpha2"
SELECTOR = ["--set", "provider.name=gke"]  # HelmEnv.template selects app=vllm-llama3-8b-instruct under router.*
MIGRATION = [f"--alpha-pool={ALPHA_POOL}", "--ga-weight=50", f"--objectives-from={MODELS}"]


@pytest.mark.parametrize(
    "target",
    [[], ["--target-version=v1.5.0"], ["--target-version=v1.6.0"], [f"--target-version={ROUTER}"]],
    ids=["default", "v1.5.0", "v1.6.0", "router"],
)
def test_objectives_and_rewrites_go_to_llm_d_ai_and_the_server_accepts_them(helm, schemas, tmp_path, target):
    """Whatever GIE --target-version is given, the stream's EPP decides: its objectives and rewrites are written
    in llm-d.ai, valid against llm-d-router v0.10.0's own CRDs (strictly: no field pruned), the rewrite with
    `targets` (apix/v1alpha2/inferencemodelrewrite_types.go:96 at v0.10.0), and the report says why."""
    report = tmp_path / "report.json"
    objects = docs(helm.template(GA_RELEASE, CHART, *SELECTOR, post_render=[*MIGRATION, *target, f"--report={report}"]))
    objectives = [o for o in objects if o["kind"] == "InferenceObjective"]
    rewrites = [o for o in objects if o["kind"] == "InferenceModelRewrite"]
    assert {o["metadata"]["name"] for o in objectives} == {"food-review", "base-model", "base-model-cpu"}
    assert [r["metadata"]["name"] for r in rewrites] == ["food-review"]
    for obj in objectives + rewrites:
        assert obj["apiVersion"] == LLMD
        assert obj["spec"]["poolRef"] == {"group": GA_GROUP, "name": GA_RELEASE}
        schemas.validate(obj, release=ROUTER)
    assert rewrites[0]["spec"]["rules"][0]["targets"] == [{"modelRewrite": "food-review", "weight": 100}]
    # the chart's own pool and the weighted route are GA objects the server takes
    for obj in objects:
        if obj["kind"] in ("InferencePool", "HTTPRoute"):
            schemas.validate(obj, release="v1.6.0")
    (route,) = [o for o in objects if o["kind"] == "HTTPRoute"]
    assert [(r["group"], r["name"], r["weight"]) for r in route["spec"]["rules"][0]["backendRefs"]] == [
        (ALPHA_GROUP, ALPHA_POOL, 50),
        (GA_GROUP, GA_RELEASE, 50),
    ]
    said = json.loads(report.read_text())
    if not target or "v1." in target[0]:
        assert any("llm-d-router-endpoint-picker" in note and LLMD in note for note in said["notes"]), said["notes"]


def test_a_mirrored_epp_image_is_known_by_its_role(helm3, schemas):
    """A platform team mirrors the EPP image under its own name: the chart's Role, which lets the EPP read
    llm-d.ai objectives (config/charts/llm-d-router-gateway/templates/rbac.yaml at v0.10.0), still tells."""
    objects = docs(
        helm3.template(
            GA_RELEASE,
            CHART,
            *SELECTOR,
            "--set",
            "router.epp.image.registry=mirror.example",
            "--set",
            "router.epp.image.repository=team/picker",
            post_render=[f"--objectives-from={MODELS}", f"--alpha-pool={ALPHA_POOL}"],
        )
    )
    assert {o["apiVersion"] for o in objects if o["kind"] == "InferenceObjective"} == {LLMD}


def test_a_gie_chart_with_an_llm_d_router_target_is_refused(helm3):
    """GIE's v1.5.0 EPP reads objectives in x-k8s.io only (apix/v1alpha2 at v1.5.0): llm-d.ai objectives for it
    would be ignored, and every request would get priority 0."""
    text = helm3.template(GA_RELEASE, "inferencepool-v1.5.0")
    done = run_postrender(
        text, f"--objectives-from={MODELS}", f"--alpha-pool={ALPHA_POOL}", f"--target-version={ROUTER}"
    )
    assert done.returncode == 2 and done.stdout == "" and len(done.stderr.splitlines()) == 1
    assert f"--target-version {ROUTER}" in done.stderr and "inference.networking.x-k8s.io/v1alpha2" in done.stderr


def test_the_chart_renders_what_the_post_renderer_changes_only_where_it_must(helm3):
    """Without flags the stream passes as it came (the chart already renders a v1 pool, a Role that reads GA pools
    and an EPP with --pool-group inference.networking.k8s.io). With provider gke only its HealthCheckPolicy
    changes: GKE's CRD refuses its port without portSpecification (test_helm_postrender validates it)."""
    text = helm3.template(GA_RELEASE, CHART)
    done = run_postrender(text)
    assert done.returncode == 0, done.stderr
    assert done.stdout == text

"""What the post-renderer writes, sent by the real Helm 4 (server-side apply) to a real kube-apiserver with each
release's own CRDs and GKE's policy CRDs: no object refused, no field pruned. And the schema and CEL rules the
post-renderer relies on, refused by the server as by the tests' own checker (tests/cel_rules.py)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import FIXTURES, GA_GROUP, docs
from real_server import real, use_helm  # noqa: F401

pytestmark = pytest.mark.realapi


def changed_or_pruned(sent, stored, path: str = "") -> list[str]:
    """Paths of `sent` that the server did not store as sent (a pruned field, a changed value). What the server
    adds (defaults, status, metadata it owns) is not looked at."""
    if isinstance(sent, dict):
        if not isinstance(stored, dict):
            return [path or "<root>"]
        return [
            found
            for key, value in sent.items()
            for found in changed_or_pruned(
                value, stored.get(key, _MISSING) if isinstance(stored, dict) else _MISSING, f"{path}.{key}"
            )
        ]
    if isinstance(sent, list):
        if not isinstance(stored, list) or len(stored) != len(sent):
            return [path]
        return [
            found
            for n, (a, b) in enumerate(zip(sent, stored, strict=True))
            for found in changed_or_pruned(a, b, f"{path}[{n}]")
        ]
    return [] if sent == stored or (stored is not _MISSING and str(sent) == str(stored)) else [path]


_MISSING = object()


@pytest.mark.parametrize("release", ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0"])
def test_every_ga_chart_through_the_post_renderer_is_stored_as_sent(real, release):
    """Issue 21.4: each GA chart of the fixtures with provider gke, `helm upgrade --install --post-renderer` on
    Helm 4, against that release's bundle (fixtures/crds, upstream's kustomize build) and GKE's CRDs."""
    use_helm(real, 4)
    real.apply_files(FIXTURES / "crds" / f"inference-extension-{release}-release-manifests.yaml")
    done = real.helm(
        "upgrade",
        "--install",
        "vllm-ga",
        str(FIXTURES / "charts" / f"inferencepool-{release}"),
        "--set",
        "inferencePool.modelServers.matchLabels.app=vllm",
        "--set",
        "provider.name=gke",
        "--post-renderer",
        "infgw-postrender",
        "--post-renderer-args",
        "--objective=food-review=2",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sent = docs(real.helm("get", "manifest", "vllm-ga").stdout)
    assert {o["kind"] for o in sent} >= {"InferencePool", "InferenceObjective", "HealthCheckPolicy", "GCPBackendPolicy"}
    problems = {}
    for obj in sent:
        listed = real.kubectl("get", "-f", "-", "-o", "json", input=json.dumps(obj)).stdout
        stored = json.loads(listed)
        stored = stored["items"][0] if stored.get("kind") == "List" else stored
        found = changed_or_pruned(obj, stored)
        if found:
            problems[f"{obj['kind']}/{obj['metadata']['name']}"] = found
    assert problems == {}, problems


REFUSED = {  # what the post-renderer never writes, each refused by a rule of the CRD it relies on
    "pool: an EPP Service without a port (CEL)": (
        "inference-extension-v1.0.0-release-manifests.yaml",
        {
            "apiVersion": f"{GA_GROUP}/v1",
            "kind": "InferencePool",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "m"}},
                "targetPorts": [{"number": 8000}],
                "endpointPickerRef": {"name": "p-epp"},
            },
        },
        "port is required when kind is 'Service'",
    ),
    "pool: two target ports (v1.0.0 takes exactly one)": (
        "inference-extension-v1.0.0-release-manifests.yaml",
        {
            "apiVersion": f"{GA_GROUP}/v1",
            "kind": "InferencePool",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "selector": {"matchLabels": {"app": "m"}},
                "targetPorts": [{"number": 8000}, {"number": 8001}],
                "endpointPickerRef": {"name": "p-epp", "port": {"number": 9002}},
            },
        },
        "must have at most 1 item",
    ),
    "route: a Service backend without a port (CEL)": (
        "gateway-api-v1.4.1-standard-httproutes.yaml",
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "default"},
            "spec": {"parentRefs": [{"name": "g"}], "rules": [{"backendRefs": [{"name": "fallback"}]}]},
        },
        "Must have port for Service reference",
    ),
    "health check: a port without portSpecification (GKE's CEL)": (
        "gke-gateway-api-fc40d60-healthcheckpolicies.yaml",
        {
            "apiVersion": "networking.gke.io/v1",
            "kind": "HealthCheckPolicy",
            "metadata": {"name": "h", "namespace": "default"},
            "spec": {
                "targetRef": {"group": GA_GROUP, "kind": "InferencePool", "name": "p"},
                "default": {"config": {"type": "HTTP", "httpHealthCheck": {"requestPath": "/health", "port": 8000}}},
            },
        },
        "portSpecification",
    ),
    "rewrite: the `split` v1.2.0 had, at v1.3.0 (strict field validation)": (
        "inference-extension-v1.3.0-release-manifests.yaml",
        {
            "apiVersion": "inference.networking.x-k8s.io/v1alpha2",
            "kind": "InferenceModelRewrite",
            "metadata": {"name": "w", "namespace": "default"},
            "spec": {
                "poolRef": {"group": GA_GROUP, "name": "p"},
                "rules": [{"matches": [{"model": {"value": "m"}}], "split": [{"modelRewrite": "m2", "weight": 100}]}],
            },
        },
        'unknown field "spec.rules[0].split"',
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_the_tests_refuse_the_server_refuses(real, schemas, case):
    """Issue 21.4: one cross-check per schema or CEL rule the post-renderer relies on: the server refuses the object
    (kubectl's strict validation, server dry run) and so does the tests' checker, which the other tiers use."""
    crds, obj, message = REFUSED[case]
    real.apply_files(FIXTURES / "crds" / crds)
    done = real.kubectl("create", "--dry-run=server", "-f", "-", check=False, input=json.dumps(obj))
    assert done.returncode != 0 and message in done.stderr, done.stderr
    release = crds.split("-")[2] if crds.startswith("inference-extension-") else None
    with pytest.raises((AssertionError, jsonschema.ValidationError)):
        schemas.validate(obj, release=release)

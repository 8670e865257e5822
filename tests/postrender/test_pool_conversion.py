"""The pool conversion against upstream's own cases: TestInferencePoolConvertTo in
apix/v1alpha2/inferencepool_conversion_test.go at v1.0.0, ported from Go structs to the YAML they serialize to.

The Go `want` with an empty Status is `status: {}`; here an empty status is left out, which the API server
treats the same.
"""

from __future__ import annotations

import pytest

from infgw_postrender.postrender.pool import convert_pool

ALPHA = "inference.networking.x-k8s.io/v1alpha2"
GA = "inference.networking.k8s.io/v1"
T0 = "1970-01-01T00:00:00Z"


def condition(type_, status, reason):
    return {"type": type_, "status": status, "reason": reason, "lastTransitionTime": T0}


PENDING = condition("Accepted", "Unknown", "Pending")

CASES = {
    "full conversion from v1alpha2 to v1 including status": (
        {
            "apiVersion": ALPHA,
            "kind": "InferencePool",
            "metadata": {"name": "test-pool", "namespace": "test-ns"},
            "spec": {
                "selector": {"app": "my-model-server"},
                "targetPortNumber": 8080,
                "extensionRef": {
                    "group": "my-group",
                    "kind": "MyKind",
                    "name": "my-epp-service",
                    "portNumber": 9000,
                    "failureMode": "Deny",
                },
            },
            "status": {
                "parent": [
                    {
                        "parentRef": {"name": "my-gateway"},
                        "conditions": [PENDING, condition("Accepted", "True", "Accepted")],
                    }
                ]
            },
        },
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "test-pool", "namespace": "test-ns"},
            "spec": {
                "selector": {"matchLabels": {"app": "my-model-server"}},
                "targetPorts": [{"number": 8080}],
                "endpointPickerRef": {
                    "group": "my-group",
                    "kind": "MyKind",
                    "name": "my-epp-service",
                    "port": {"number": 9000},
                    "failureMode": "Deny",
                },
            },
            "status": {
                "parents": [
                    {"parentRef": {"name": "my-gateway"}, "conditions": [condition("Accepted", "True", "Accepted")]}
                ]
            },
        },
    ),
    "v1alpha2 -> v1 maps NotSupportedByGateway to NotSupportedByParent": (
        {
            "apiVersion": ALPHA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"app": "m"}, "targetPortNumber": 8080},
            "status": {
                "parent": [
                    {
                        "parentRef": {"name": "gw"},
                        "conditions": [condition("Accepted", "False", "NotSupportedByGateway")],
                    }
                ]
            },
        },
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "m"}}, "targetPorts": [{"number": 8080}]},
            "status": {
                "parents": [
                    {
                        "parentRef": {"name": "gw"},
                        "conditions": [condition("Accepted", "False", "NotSupportedByParent")],
                    }
                ]
            },
        },
    ),
    "conversion from v1alpha2 to v1 with empty extensionRef and default v1alpha2 status condition": (
        {
            "apiVersion": ALPHA,
            "kind": "InferencePool",
            "metadata": {"name": "test-pool", "namespace": "test-ns"},
            "spec": {"selector": {"app": "my-model-server"}, "targetPortNumber": 8080},
            "status": {"parent": [{"parentRef": {"name": "my-gateway"}, "conditions": [PENDING]}]},
        },
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "test-pool", "namespace": "test-ns"},
            "spec": {"selector": {"matchLabels": {"app": "my-model-server"}}, "targetPorts": [{"number": 8080}]},
            # Conditions omitted after dropping the synthetic default.
            "status": {"parents": [{"parentRef": {"name": "my-gateway"}}]},
        },
    ),
    "v1alpha2 -> v1 drops synthetic default parent": (
        {
            "apiVersion": ALPHA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"app": "m"}, "targetPortNumber": 8080},
            "status": {"parent": [{"parentRef": {"kind": "Status", "name": "default"}, "conditions": [PENDING]}]},
        },
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "m"}}, "targetPorts": [{"number": 8080}]},
        },
    ),
    "v1alpha2 -> v1 drops synthetic default parent but keeps real parent": (
        {
            "apiVersion": ALPHA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"app": "m"}, "targetPortNumber": 8080},
            "status": {
                "parent": [
                    {"parentRef": {"kind": "Status", "name": "default"}, "conditions": [PENDING]},
                    {
                        "parentRef": {"name": "real-gw"},
                        "conditions": [condition("ResolvedRefs", "True", "ResolvedRefs")],
                    },
                ]
            },
        },
        {
            "apiVersion": GA,
            "kind": "InferencePool",
            "metadata": {"name": "pool", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "m"}}, "targetPorts": [{"number": 8080}]},
            "status": {
                "parents": [
                    {
                        "parentRef": {"name": "real-gw"},
                        "conditions": [condition("ResolvedRefs", "True", "ResolvedRefs")],
                    },
                ]
            },
        },
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_upstream_convert_to_cases(name):
    alpha, want = CASES[name]
    convert_pool(alpha)
    assert alpha == want


def test_missing_epp_port_takes_the_service_port_and_says_so():
    """v0.3.0 charts render extensionRef with a name only; the v1 CRD's CEL rule requires a port."""
    pool = {
        "apiVersion": ALPHA,
        "kind": "InferencePool",
        "metadata": {"name": "p"},
        "spec": {"selector": {"app": "m"}, "targetPortNumber": 8000, "extensionRef": {"name": "p-epp"}},
    }
    changes, assumed = convert_pool(pool, epp_port=9002)
    assert pool["spec"]["endpointPickerRef"] == {"name": "p-epp", "port": {"number": 9002}}
    assert any("9002" in line and "port" in line for line in assumed)


def test_every_selector_key_is_wrapped_even_one_named_match_labels():
    """Issue 10.7: upstream's ConvertTo copies every key of the v1alpha2 selector into matchLabels."""
    pool = {
        "apiVersion": ALPHA,
        "kind": "InferencePool",
        "metadata": {"name": "p"},
        "spec": {
            "selector": {"matchLabels": "x", "app": "m"},
            "targetPortNumber": 8000,
            "extensionRef": {"name": "p-epp", "portNumber": 9002},
        },
    }
    convert_pool(pool)
    assert pool["spec"]["selector"] == {"matchLabels": {"matchLabels": "x", "app": "m"}}


def test_status_parent_refs_keep_group_kind_name_namespace_only():
    """Issue 10.7: v0.3.0 status parents carry ObjectReference fields; upstream's toV1ParentRef keeps four."""
    pool = {
        "apiVersion": ALPHA,
        "kind": "InferencePool",
        "metadata": {"name": "p"},
        "spec": {
            "selector": {"app": "m"},
            "targetPortNumber": 8000,
            "extensionRef": {"name": "p-epp", "portNumber": 9002},
        },
        "status": {
            "parent": [
                {
                    "parentRef": {
                        "apiVersion": "gateway.networking.k8s.io/v1",
                        "group": "gateway.networking.k8s.io",
                        "kind": "Gateway",
                        "name": "gw",
                        "namespace": "infra",
                        "uid": "u-1",
                        "resourceVersion": "7",
                    },
                    "conditions": [condition("Accepted", "True", "Accepted")],
                }
            ]
        },
    }
    convert_pool(pool)
    assert pool["status"]["parents"][0]["parentRef"] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "gw",
        "namespace": "infra",
    }


@pytest.mark.e2e  # the installed entry point, as Helm runs it
@pytest.mark.parametrize("extension", ["absent", None, {}, {"portNumber": 9002}])
def test_a_pool_without_an_epp_is_refused(extension):
    """Issue 10.7: the v1 CRD requires endpointPickerRef.name; a converted pool without one is an error (exit 2,
    nothing on stdout), not a pool the API server refuses later."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    spec = {"selector": {"app": "m"}, "targetPortNumber": 8000}
    if extension != "absent":
        spec["extensionRef"] = extension
    stream = yaml.safe_dump(
        {"apiVersion": ALPHA, "kind": "InferencePool", "metadata": {"name": "p", "namespace": "d"}, "spec": spec}
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "infgw-postrender"), "--alpha-pool", "p"],
        input=stream,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "has no spec.extensionRef.name, and a v1 pool is served only through endpointPickerRef" in done.stderr

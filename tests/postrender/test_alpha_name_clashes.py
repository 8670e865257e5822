"""The GA release never takes the identity of an alpha release object, and what it renames still wires up.

Both releases are rendered by the real chart (alpha: v0.3.0, GA: v1.0.0), so the alpha names come from
upstream's templates, not from the code under test."""

from __future__ import annotations

import pytest
from conftest import docs
from test_helm_postrender import identities


def resolves(objects: list[dict]) -> None:
    """Every name one object gives another points at an object of the release."""
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    pool = next(o for o in objects if o["kind"] == "InferencePool")
    assert ("Service", pool["spec"]["endpointPickerRef"]["name"]) in names
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    pod = deployment["spec"]["template"]
    assert ("ServiceAccount", pod["spec"]["serviceAccountName"]) in names
    for volume in pod["spec"].get("volumes", []):
        if "configMap" in volume:
            assert ("ConfigMap", volume["configMap"]["name"]) in names
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    service = next(
        o
        for o in objects
        if o["kind"] == "Service" and o["metadata"]["name"] == pool["spec"]["endpointPickerRef"]["name"]
    )
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert (binding["roleRef"]["kind"], binding["roleRef"]["name"]) in names
        for subject in binding["subjects"]:
            assert ("ServiceAccount", subject["name"]) in names


@pytest.mark.parametrize("provider", ["none", "gke"])
def test_release_names_truncated_to_the_same_epp_name(helm3, provider):
    alpha_name = "a-model-server-release-whose-name-runs-long"  # 43 characters: the EPP name keeps 40
    ga_name = alpha_name + "-ga"
    alpha = docs(helm3.template(alpha_name, "inferencepool-v0.3.0", "--set", f"provider.name={provider}"))
    plain = docs(helm3.template(ga_name, "inferencepool-v1.0.0", "--set", f"provider.name={provider}"))
    assert identities(plain) & identities(alpha), "the premise: the chart alone makes clashing names"

    ga = docs(
        helm3.template(
            ga_name,
            "inferencepool-v1.0.0",
            "--set",
            f"provider.name={provider}",
            post_render=[f"--alpha-pool={alpha_name}"],
        )
    )
    assert identities(ga) & identities(alpha) == set()
    resolves(ga)
    # The GA EPP Service must not select the alpha EPP's pods.
    alpha_pod_labels = next(o for o in alpha if o["kind"] == "Deployment")["spec"]["template"]["metadata"]["labels"]
    for service in (o for o in ga if o["kind"] == "Service"):
        assert not service["spec"]["selector"].items() <= alpha_pod_labels.items()


def test_same_release_name_in_another_namespace_keeps_cluster_scoped_objects_apart(helm3):
    alpha = docs(helm3.template("vllm", "inferencepool-v0.3.0", "--set", "provider.name=gke", namespace="prod"))
    ga = docs(
        helm3.template(
            "vllm",
            "inferencepool-v1.0.0",
            "--set",
            "provider.name=gke",
            namespace="prod-ga",
            post_render=["--alpha-pool=vllm", "--alpha-namespace=prod"],
        )
    )
    assert identities(ga) & identities(alpha) == set()
    resolves(ga)
    cluster_roles = [o["metadata"]["name"] for o in ga if o["kind"] == "ClusterRole"]
    assert cluster_roles and "vllm-epp" not in cluster_roles


def test_pool_renamed_to_the_alpha_name_keeps_policies_apart(helm3):
    """The guide's pattern: the GA pool takes the alpha pool's name (the groups differ); policies may not."""
    alpha = docs(helm3.template("vllm", "inferencepool-v0.3.0", "--set", "provider.name=gke"))
    ga = docs(
        helm3.template(
            "vllm-ga",
            "inferencepool-v1.0.0",
            "--set",
            "provider.name=gke",
            post_render=["--pool-name=vllm", "--alpha-pool=vllm"],
        )
    )
    assert identities(ga) & identities(alpha) == set()
    pool = next(o for o in ga if o["kind"] == "InferencePool")
    assert pool["metadata"]["name"] == "vllm"
    policies = [o for o in ga if o["kind"] in ("HealthCheckPolicy", "GCPBackendPolicy")]
    assert {p["spec"]["targetRef"]["name"] for p in policies} == {"vllm"}


def test_a_pool_named_like_its_epp_keeps_the_epps_objects_apart_from_the_first_run(helm3):
    """A pool named like its EPP (`vllm-epp`, a chart's output edited so; found by the fuzzing): the EPP's objects
    are named after both, and the alpha release `vllm` has the EPP's (`vllm-epp`). The first run must rename them
    already, as a second run on its output would: a post-render run twice gives the same stream."""
    import re

    from conftest import run_postrender

    alpha = docs(helm3.template("vllm", "inferencepool-v1.0.0", "--set", "provider.name=gke"))
    rendered = helm3.template("vllm", "inferencepool-v1.0.0", "--set", "provider.name=gke")
    stream = re.sub(r"(?m)(^kind: InferencePool\n(?:.*\n)*?^  name: )vllm$", r"\1vllm-epp", rendered, count=1)
    assert stream != rendered
    flags = ["--pool-name=vllm", "--alpha-pool=vllm", "--ga-weight=100", "--offline", "-q"]
    once = run_postrender(stream, *flags)
    assert once.returncode == 0, once.stderr
    twice = run_postrender(once.stdout, *flags)
    assert twice.returncode == 0 and twice.stdout == once.stdout
    ga = [o for o in docs(once.stdout) if "infgw-migrate.io/generated" not in o["metadata"].get("annotations", {})]
    assert identities(ga) & identities([o for o in alpha if o["kind"] != "InferencePool"]) == set()

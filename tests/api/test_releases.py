"""mapping.yaml's release table against upstream's own files in the fixtures: what each GIE release's bundle
defines, what llm-d-router ships, and the spellings a target takes."""

from __future__ import annotations

import pytest
from conftest import FIXTURES, docs

from infgw_postrender.api.mapping import api
from infgw_postrender.api.releases import chart_target, parse_target, target_of_epp
from infgw_postrender.errors import InputError

GIE = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0", "v1.6.0"]


def _names(file: str) -> set[str]:
    return {crd["metadata"]["name"] for crd in docs((FIXTURES / "crds" / file).read_text())}


@pytest.mark.parametrize("release", GIE)
def test_each_row_says_what_the_release_bundle_defines(release):
    """The row's `bundle` (used for a release the tool does not pin) names exactly the CRDs of upstream's release
    file (`kubectl kustomize config/crd` at the tag), and its objective and rewrite CRDs are among them."""
    target = parse_target(release)
    shipped = _names(f"inference-extension-{release}-release-manifests.yaml")
    assert set(api().cluster.crd_names(target.row.bundle)) == shipped
    assert set(api().cluster.crd_names(target.crd_keys)) <= shipped


def test_llm_d_router_reads_what_it_ships():
    target = parse_target("llm-d-router/v0.10.0")
    assert set(api().cluster.crd_names(target.crd_keys)) - {api().cluster.resources.ga_pool} == _names(
        "llm-d-router-v0.10.0-llm-d.ai-crds.yaml"
    )
    assert target.objective_api_version == target.model_rewrite_api_version == "llm-d.ai/v1alpha2"
    assert target.pool_bundle.name == "v1.6.0"


@pytest.mark.parametrize(
    "text, message",
    [
        ("v0.3.0", "releases before v1.0.0 have no GA API"),
        ("llm-d-router/v0.8.0", "releases before llm-d-router/v0.9.0 have no GA API"),
        ("latest", "expected a release such as v1.0.0, llm-d-router/v0.9.0"),
        ("llm-d-router/main", "expected a release such as"),
    ],
)
def test_a_target_it_cannot_serve_is_one_line(text, message):
    with pytest.raises(InputError, match=message):
        parse_target(text)


@pytest.mark.parametrize(
    "image, target",
    [
        ("ghcr.io/llm-d/llm-d-router-endpoint-picker:main", "llm-d-router/v0.10.0"),  # a branch: the default
        ("ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0", "llm-d-router/v0.10.0"),
        # llm-d/llm-d-router v0.9.0 config/charts/routerlib/values.yaml: epp.image.repository
        ("ghcr.io/llm-d/llm-d-router-endpoint-picker-dev:v0.9.0", "llm-d-router/v0.9.0"),
        ("registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0", None),  # GIE's: --target-version decides
    ],
)
def test_the_epp_image_names_its_project(image, target):
    found = target_of_epp(image)
    assert (found.name if found else None) == target


def test_charts_are_known_by_name_and_v1_6_0_has_none():
    assert chart_target(str(FIXTURES / "charts" / "llm-d-router-gateway-v0.10.0"), None).name == "llm-d-router/v0.10.0"
    assert (
        chart_target("oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool", "v1.3.0").name
        == "v1.3.0"
    )
    with pytest.raises(InputError, match="publishes no inferencepool chart"):
        chart_target("oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool", "v1.6.0")
    with pytest.raises(InputError, match="not a chart this tool knows"):
        chart_target("oci://example.com/charts/vllm", "v1.0.0")

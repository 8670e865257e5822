"""`crds`: the decision over server versions (the guide's rule), and downloads from a real HTTP server on loopback
checked against the pinned SHA-256 before anything is applied."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading

import pytest
from conftest import FIXTURES, crd_mirror


@pytest.fixture
def cluster(memory):
    """The fast tier's in-memory cluster: the CRD commands read and write only through the tool's Kubectl."""
    return memory


BUNDLE = "releases/download/v1.0.0/manifests.yaml"
OBJECTIVE = "raw/v1.0.0/config/crd/bases/inference.networking.x-k8s.io_inferenceobjectives.yaml"
GA_POOL_CRD = "inferencepools.inference.networking.k8s.io"
OBJECTIVE_CRD = "inferenceobjectives.inference.networking.x-k8s.io"

# The guide: GKE before 1.34.0-gke.1626000 needs the whole v1.0.0 bundle; GKE at or past it serves the v1
# InferencePool and needs only the InferenceObjective CRD; a cluster that is not GKE has no managed CRD.
CASES = {
    "v1.33.5-gke.1080000": "bundle",
    "v1.34.0-gke.1625999": "bundle",
    "v1.34.0-gke.1626000": "objective",
    "v1.34.1-gke.100": "objective",
    "v1.35.0-gke.5": "objective",
    "v1.34.0": "bundle",
    "v1.32.3-eks-4": "bundle",
    "v1.31.2+k3s1": "bundle",
    # issue 10.8: decided numerically, never a traceback: leading zeros are numbers, a release candidate ranks
    # below the release whatever its GKE build
    "v1.34.0-gke.01626000": "objective",
    "v1.34.0-rc.1-gke.2000000": "bundle",
}


@pytest.mark.parametrize("version, wanted", CASES.items())
def test_decision_over_server_versions(cluster, version, wanted):
    done = cluster.migrate("crds", "--server-version", version, "-o", "json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert [f["name"] for f in decision["files"]] == [wanted]
    url = decision["files"][0]["url"]
    assert url.startswith("https://github.com/kubernetes-sigs/gateway-api-inference-extension/")
    assert url.endswith(BUNDLE if wanted == "bundle" else OBJECTIVE)
    assert decision["gke"] == ("-gke." in version)
    assert cluster.api.requests == [], "--server-version decides without a cluster"


@pytest.mark.parametrize("garbage", ["garbage", "1.34", "v1.34.x-gke.1", ""])
def test_a_version_it_cannot_parse_is_an_error(cluster, garbage):
    done = cluster.migrate("crds", "--server-version", garbage)
    assert done.returncode == 2 and done.stdout == ""
    assert "expected a Kubernetes version such as v1.34.0-gke.1626000" in done.stderr


def test_target_with_rewrites_adds_the_rewrite_crd(cluster):
    done = cluster.migrate("crds", "--server-version", "v1.35.0-gke.5", "--target-version", "v1.3.0", "-o", "json")
    assert [f["name"] for f in json.loads(done.stdout)["files"]] == ["objective", "model_rewrite"]


def test_gke_managed_crd_is_never_overwritten(cluster):
    """An older GKE version, but the cluster already has a GKE-managed v1 InferencePool CRD."""
    managed = next(
        c
        for c in _crds(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
        if c["metadata"]["name"] == GA_POOL_CRD
    )
    managed["metadata"]["labels"] = {"addonmanager.kubernetes.io/mode": "Reconcile"}
    cluster.api.put(managed)
    done = cluster.migrate("crds", "-o", "json")
    decision = json.loads(done.stdout)
    assert [f["name"] for f in decision["files"]] == ["objective"]
    assert GA_POOL_CRD in decision["kept"]


def _crds(path):
    import yaml

    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.fixture
def mirror(tmp_path):
    """A real HTTP server on loopback holding the fixture CRD files at upstream's paths."""
    root = crd_mirror(tmp_path / "mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.root = root
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_apply_downloads_checks_applies_and_waits(cluster, mirror):
    done = cluster.migrate("crds", "--apply", "--source", mirror.url)
    assert done.returncode == 0, done.stderr
    installed = {c["metadata"]["name"] for c in cluster.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert {GA_POOL_CRD, OBJECTIVE_CRD} <= installed
    assert "all Established" in done.stderr
    # and kubectl can now serve the GA pool type
    assert cluster.kubectl("get", "inferencepools.inference.networking.k8s.io", "-A").returncode == 0


def test_checksum_mismatch_is_refused_before_anything_is_applied(cluster, mirror):
    bundle = mirror.root / BUNDLE
    bundle.write_text(bundle.read_text().replace("description:", "description: tampered", 1))
    before = {c["metadata"]["name"] for c in cluster.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    done = cluster.migrate("crds", "--apply", "--source", mirror.url)
    assert done.returncode == 1
    assert "does not match the pinned CRDs of v1.0.0" in done.stderr and "nothing applied" in done.stderr
    after = {c["metadata"]["name"] for c in cluster.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert after == before
    assert not [r for r in cluster.api.requests if r[0] != "GET"], "nothing may be written to the cluster"


def test_unreachable_source_is_a_clear_error(cluster):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = cluster.migrate("crds", "--apply", "--source", f"http://127.0.0.1:{port}")
    assert done.returncode == 1
    assert done.stderr.strip().startswith(f"Error: http://127.0.0.1:{port}/{BUNDLE}: unreachable")
    assert "Traceback" not in done.stderr


def test_a_folder_mirror_for_air_gapped_clusters(cluster, mirror):
    done = cluster.migrate("crds", "--apply", "--source", str(mirror.root))
    assert done.returncode == 0, done.stderr


def test_unpinned_release_needs_explicit_consent(cluster, mirror):
    done = cluster.migrate("crds", "--apply", "--source", mirror.url, "--target-version", "v1.9.0")
    assert done.returncode == 1 and "no pinned CRDs for v1.9.0" in done.stderr and "--insecure-unpinned" in done.stderr


def test_the_installed_crds_decide_not_the_version(cluster):
    """Issue 9.6: GKE 1.34.1 that does not serve the v1 InferencePool CRD (yet) gets the whole bundle; only
    offline (--server-version alone) does the version decide."""
    cluster.api.server_version = "v1.34.1-gke.2000"
    done = cluster.migrate("crds", "-o", "json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert [f["name"] for f in decision["files"]] == ["bundle"]
    assert "the cluster has no v1 InferencePool CRD" in decision["reasons"][0]


def test_only_inference_crds_are_listed_as_kept(cluster):
    """Issue 9.13: GKE manages the Gateway API CRDs too; they are not this tool's business."""
    managed = next(
        c
        for c in _crds(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
        if c["metadata"]["name"] == GA_POOL_CRD
    )
    managed["metadata"]["labels"] = {"addonmanager.kubernetes.io/mode": "Reconcile"}
    cluster.api.put(managed)
    route_crd = cluster.api.get(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io"
    )
    route_crd["metadata"]["labels"] = {"addonmanager.kubernetes.io/mode": "Reconcile"}
    decision = json.loads(cluster.migrate("crds", "-o", "json").stdout)
    assert decision["kept"] == [GA_POOL_CRD]


def _bundle_variants() -> dict:
    """The v1.0.0 CRDs as other files would hold them, and what the pins must say of each."""
    import yaml

    bases = _crds(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    other = _crds(FIXTURES / "crds" / "inference.networking.x-k8s.io_inferencemodelrewrites-v1.2.0.yaml")
    changed = json.loads(json.dumps(bases))
    changed[0]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"].pop("selector")
    return {
        # upstream's release file: kustomize build config/crd (InferenceObjective first, no leading ---)
        "release-file": ((FIXTURES / "crds" / "inference-extension-v1.0.0-release-manifests.yaml").read_text(), True),
        "reordered-json": ("\n---\n".join(json.dumps(c, indent=1) for c in reversed(bases)), True),
        "flow-style": (yaml.safe_dump_all(bases[1:] + bases[:1], default_flow_style=True, width=80), True),
        "changed-schema": (yaml.safe_dump_all(changed), False),
        "missing-crd": (yaml.safe_dump_all(bases[:2]), False),
        "extra-crd": (yaml.safe_dump_all(bases + other), False),
    }


@pytest.mark.parametrize("variant", list(_bundle_variants()))
def test_pins_hold_content_whatever_the_file_looks_like(cluster, mirror, variant):
    """Issue 10.1: the release file is a kustomize build, not the bases' bytes: pins hold each CRD's canonical
    spec, so any order and layout of the same CRDs is accepted, and anything else refused before any apply."""
    text, accepted = _bundle_variants()[variant]
    (mirror.root / BUNDLE).write_text(text)
    done = cluster.migrate("crds", "--apply", "--source", mirror.url)
    if accepted:
        assert done.returncode == 0, done.stderr
        assert "all Established" in done.stderr
    else:
        assert done.returncode == 1 and "does not match the pinned CRDs of v1.0.0" in done.stderr
        assert not [r for r in cluster.api.requests if r[0] != "GET"], "nothing may be written to the cluster"


@pytest.mark.e2e  # runs the script
def test_pins_are_what_the_script_computes_from_the_fixtures():
    """The pins in mapping.yaml are scripts/pin_crds.py's output, not typed by hand."""
    import subprocess
    import sys

    from conftest import REPO, SHARED

    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "pin_crds.py"), "--check", str(SHARED / "fixtures")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def _shipped(target: str) -> set[str]:
    """The CRDs upstream ships for a target, from the fixtures: a GIE release's bundle; for llm-d-router, its
    llm-d.ai CRDs (config/crd/bases) and the GIE v1.6.0 bundle its config/crd takes the v1 pool from."""
    if target.startswith("llm-d-router/"):
        files = [
            f"llm-d-router-{target.split('/')[1]}-llm-d.ai-crds.yaml",
            "inference-extension-v1.6.0-release-manifests.yaml",
        ]
    else:
        files = [f"inference-extension-{target}-release-manifests.yaml"]
    return {crd["metadata"]["name"] for name in files for crd in _crds(FIXTURES / "crds" / name)}


@pytest.mark.parametrize("server", ["v1.33.5-gke.1080000", "v1.35.0-gke.5", "v1.34.0"])
@pytest.mark.parametrize(
    "target", ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0", "v1.6.0", "llm-d-router/v0.10.0"]
)
def test_crds_plans_only_files_that_exist_at_the_tag(cluster, target, server):
    """Issue 19.2: every file planned defines only CRDs that release ships (the fixtures' release files), each
    pinned; GIE v1.6.0 ships no objective CRDs (#2973), so none is planned for it; llm-d-router's come from
    llm-d/llm-d-router at its tag."""
    done = cluster.migrate("crds", "--server-version", server, "--target-version", target, "-o", "json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    shipped = _shipped(target)
    planned = set()
    for crd_file in decision["files"]:
        assert set(crd_file["defines"]) <= shipped, (crd_file["url"], shipped)
        assert crd_file["pins"] and set(crd_file["pins"]) == set(crd_file["defines"])
        planned |= set(crd_file["defines"])
        if crd_file["name"] != "bundle":
            project = (
                "llm-d/llm-d-router"
                if target.startswith("llm-d-router/")
                else "kubernetes-sigs/gateway-api-inference-extension"
            )
            version = target.rpartition("/")[2]
            assert crd_file["url"].startswith(f"https://github.com/{project}/raw/{version}/config/crd/bases/")
    objective_crds = {name for name in shipped if name.startswith("inferenceobjectives.")}
    serves_pool = server == "v1.35.0-gke.5"  # GKE at or past 1.34.0-gke.1626000
    assert (GA_POOL_CRD in planned) == (not serves_pool)
    if target == "v1.6.0":
        assert not objective_crds and (
            decision["files"] == [] if serves_pool else [f["name"] for f in decision["files"]] == ["bundle"]
        )
    else:
        assert objective_crds <= planned
    if target.startswith("llm-d-router/"):
        assert {"inferenceobjectives.llm-d.ai", "inferencemodelrewrites.llm-d.ai"} <= planned
        assert not {name for name in planned if name.endswith(".x-k8s.io") and name.startswith("inferenceobjectives")}


def test_llm_d_router_crds_apply_from_a_mirror(cluster, mirror):
    """The GIE v1.6.0 bundle and llm-d-router's two llm-d.ai CRD files, laid out at upstream's paths on a mirror,
    checked against their pins and applied; the EPP's objective types are then served."""
    crd_mirror(mirror.root, "llm-d-router/v0.10.0")
    done = cluster.migrate("crds", "--apply", "--source", mirror.url, "--target-version", "llm-d-router/v0.10.0")
    assert done.returncode == 0, done.stderr
    installed = {c["metadata"]["name"] for c in cluster.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert {GA_POOL_CRD, "inferenceobjectives.llm-d.ai", "inferencemodelrewrites.llm-d.ai"} <= installed
    assert cluster.kubectl("get", "inferenceobjectives.v1alpha2.llm-d.ai", "-A").returncode == 0
    again = cluster.migrate("crds", "--target-version", "llm-d-router/v0.10.0", "-o", "json")
    assert json.loads(again.stdout)["files"] == []


def test_a_crd_left_at_an_older_release_is_applied_again(cluster, mirror):
    """Issue 20.1: a 403 on the apply of one CRD of the bundle leaves it at an older release's content; the re-run
    must not say "done already". What kubectl applied (its last-applied copy) is compared with the pins: the v1.0.0
    InferencePool CRD (pinned 586322e8...) is older than v1.3.0's (f860bf3c...), so `crds --target-version v1.3.0`
    applies the v1.3.0 bundle; content no pin knows is left alone."""
    cluster.kubectl("apply", "-f", str(FIXTURES / "crds" / "inference-extension-v1.0.0-release-manifests.yaml"))
    decision = json.loads(cluster.migrate("crds", "--target-version", "v1.3.0", "-o", "json").stdout)
    assert [f["name"] for f in decision["files"]] == ["bundle"] and "v1.3.0" in decision["files"][0]["url"]
    assert any(GA_POOL_CRD in reason and "an older release's content" in reason for reason in decision["reasons"])
    same = json.loads(cluster.migrate("crds", "--target-version", "v1.0.0", "-o", "json").stdout)
    assert same["files"] == [], "at its own release it is done"
    v1_1 = json.loads(cluster.migrate("crds", "--target-version", "v1.1.0", "-o", "json").stdout)
    assert [f["name"] for f in v1_1["files"]] == ["bundle"]  # v1.1.0 changed the pool CRD (f860bf3c...)

"""The GitOps recipes of docs/gitops.md (issue 24.7), pasted verbatim into `sh` against a real API server: the preview
through `kubectl diff` (a server-side dry run), the render that CI commits for Flux, and the companion chart's Flux
objects, checked by Flux's own CRDs (helm-controller v1.4.0 and source-controller v1.7.0, the pair Flux 2.7's
go.mod names, from the Go module proxy). helm-diff's own line is not run: the Go module proxy serves no copy of
helm-diff here (it answers 403), and nothing prebuilt may be downloaded."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ALPHA_GROUP, ALPHA_RELEASE, CHARTS, FIXTURES, GA_GROUP, REPO, docs, tool
from real_server import install_alpha_stack, real, stored_objects  # noqa: F401

pytestmark = pytest.mark.realapi

GA_RELEASE = f"{ALPHA_RELEASE}-ga"
# Flux 2.7.0's controllers (its go.mod): their modules carry the CRDs under config/crd/bases
FLUX_CRDS = {
    "github.com/fluxcd/helm-controller@v1.4.0": ["helm.toolkit.fluxcd.io_helmreleases.yaml"],
    "github.com/fluxcd/source-controller@v1.7.0": [
        "source.toolkit.fluxcd.io_gitrepositories.yaml",
        "source.toolkit.fluxcd.io_ocirepositories.yaml",
    ],
}


def readme_block(name: str) -> str:
    """The fenced block between `<!-- name -->` and `<!-- /name -->` in docs/gitops.md."""
    text = (REPO / "docs" / "gitops.md").read_text()
    block = text.split(f"<!-- {name} -->\n", 1)[1].split(f"<!-- /{name} -->", 1)[0]
    return block.split("\n", 1)[1].rsplit("```", 1)[0]


def commands(block: str) -> list[str]:
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def flux_crds(tmp_path: Path) -> list[Path]:
    """Flux's CRD files, from the controllers' modules (`go mod download`, cached in the module cache)."""
    if shutil.which("go") is None:
        pytest.skip("no `go` on PATH: Flux's CRDs come from the Go module proxy")
    found = []
    for module, names in FLUX_CRDS.items():
        done = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, f"go mod download {module}: {done.stdout[-400:]} {done.stderr[-400:]}"
        folder = Path(json.loads(done.stdout)["Dir"]) / "config" / "crd" / "bases"
        found += [folder / name for name in names]
    return found


@pytest.fixture
def work(real, tmp_path):  # noqa: F811
    """The alpha stack live, the GA release's CRDs as the crds step installs them, and a working folder holding
    the GA chart as `helm pull --untar` leaves it."""
    install_alpha_stack(real)
    v1 = [doc for doc in docs((FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml").read_text())
          if doc["metadata"]["name"] in ("inferencepools.inference.networking.k8s.io",
                                         "inferenceobjectives.inference.networking.x-k8s.io")]  # fmt: skip
    (tmp_path / "ga-crds.yaml").write_text(yaml.safe_dump_all(v1))
    real.apply_files(tmp_path / "ga-crds.yaml")
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copytree(CHARTS / "inferencepool-v1.0.0", folder / "inferencepool")
    real.work = folder
    return real


def sh(cluster, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=cluster.env, cwd=cluster.work)


def route_weights(objects: list[dict]) -> dict[tuple[str, str], int]:
    route = next(o for o in objects if o["kind"] == "HTTPRoute")
    refs = route["spec"]["rules"][0]["backendRefs"]
    return {(ref["group"], ref["name"]): ref.get("weight", 1) for ref in refs}


def test_the_preview_shows_the_ga_release_and_changes_nothing(work):
    helm_diff, preview = commands(readme_block("preview"))
    assert helm_diff.startswith("helm diff upgrade ")  # not run: see the module's docstring
    assert "--post-renderer-args=--alpha-pool=vllm-llama3-8b-instruct" in helm_diff
    before = stored_objects(work)
    done = sh(work, preview)
    assert done.returncode == 1, f"kubectl diff exits 1 when something would change: {done.stderr}"
    # the GA pool is new; the live route gains the GA pool at weight 0 beside the alpha pool
    assert f"+  name: {GA_RELEASE}\n" in done.stdout and "+apiVersion: inference.networking.k8s.io/v1\n" in done.stdout
    route_diff = done.stdout.split("HTTPRoute", 1)[1] if "HTTPRoute" in done.stdout else done.stdout
    assert f"+      name: {GA_RELEASE}\n" in route_diff and "+      weight: 0\n" in route_diff
    assert stored_objects(work) == before, "a preview changes nothing"


def test_the_flux_render_is_what_the_server_accepts(work):
    for command in commands(readme_block("flux-render")):
        done = sh(work, command)
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    committed = work.work / "clusters" / "prod" / f"{GA_RELEASE}.yaml"
    objects = docs(committed.read_text())
    pool = next(o for o in objects if o["kind"] == "InferencePool")
    assert (pool["apiVersion"], pool["metadata"]["name"]) == (f"{GA_GROUP}/v1", GA_RELEASE)
    assert route_weights(objects) == {(ALPHA_GROUP, ALPHA_RELEASE): 100, (GA_GROUP, GA_RELEASE): 0}
    # what Flux's Kustomization would apply, as the server takes it: server-side apply that takes the fields over
    # (fluxcd/pkg ssa/manager_apply.go applies with client.ForceOwnership, at ssa/v0.77.0), here as a dry run
    applied = work.kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", str(committed),
                           check=False)  # fmt: skip
    assert applied.returncode == 0, applied.stderr


def test_the_flux_companion_objects_are_accepted_and_their_release_installs(work, tmp_path):
    work.apply_files(*flux_crds(tmp_path))
    block = readme_block("flux-companion")
    (tmp_path / "flux.yaml").write_text(block)
    applied = work.kubectl("apply", "--dry-run=server", "-f", str(tmp_path / "flux.yaml"), check=False)
    assert applied.returncode == 0, f"Flux's own CRDs refuse the recipe: {applied.stderr}"
    releases = {o["metadata"]["name"]: o for o in docs(block) if o["kind"] == "HelmRelease"}
    ga = releases[GA_RELEASE]["spec"]["values"]["inferencePool"]["modelServers"]["matchLabels"]
    assert ga == {"app": ALPHA_RELEASE}, "the GA pool selects the alpha release's model servers, as the guide's"
    companion = releases["migration"]
    assert companion["spec"]["chart"]["spec"]["chart"] == "charts/infgw-migration"
    # What helm-controller then does: a Helm install of the chart at that path of this repository, with the
    # HelmRelease's values, as the release the HelmRelease names (GetReleaseName: its name), taking over what
    # exists (install.TakeOwnership unless disableTakeOwnership, internal/action/install.go:71 at v1.4.0). Here the
    # Helm it is built with (3.19.0, scripts/fetch_tools.py) does it, with the flag that sets the same.
    helm = [tool("helm-flux")]
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(companion["spec"]["values"]))
    chart = ["migration", str(REPO / companion["spec"]["chart"]["spec"]["chart"]), "-f", str(tmp_path / "values.yaml")]
    refused = subprocess.run([*helm, "install", *chart], capture_output=True, text=True, env=work.env)
    assert refused.returncode != 0 and "invalid ownership metadata" in refused.stderr, "the premise: the live route"
    taken = subprocess.run([*helm, "install", *chart, "--take-ownership"], capture_output=True, text=True, env=work.env)
    assert taken.returncode == 0, taken.stderr
    live_route = work.get("/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/llm-route")
    assert route_weights([live_route]) == {(ALPHA_GROUP, ALPHA_RELEASE): 100, (GA_GROUP, GA_RELEASE): 0}
    assert live_route["metadata"]["annotations"]["meta.helm.sh/release-name"] == "migration"
    objective = work.get(f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/default/inferenceobjectives/food-review")
    assert objective is not None and objective["spec"]["priority"] == 2
    assert objective["spec"]["poolRef"]["name"] == GA_RELEASE

"""Shared test fixtures: the real helm/kubectl binaries, upstream's charts and CRD schemas.

Outputs are parsed with PyYAML, not with the ruamel.yaml the tool uses, so a test reads what a user's
tooling would read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema
import pytest
import yaml

if TYPE_CHECKING:
    from kube_api import KubeAPI

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("INFGW_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
CHARTS = FIXTURES / "charts"
TOOLS = REPO / ".tools"
POSTRENDER = Path(sys.executable).parent / "infgw-postrender"
MIGRATE = Path(sys.executable).parent / "infgw-migrate"

ALPHA_GROUP = "inference.networking.x-k8s.io"
GA_GROUP = "inference.networking.k8s.io"

# Every chart release of the fixtures, and v1.0.0 once more with its alpha apiVersion.
CHART_VARIANTS = {
    "v0.3.0": ("inferencepool-v0.3.0", []),
    "v1.0.0": ("inferencepool-v1.0.0", []),
    "v1.0.0-alpha": ("inferencepool-v1.0.0", ["--set", f"inferencePool.apiVersion={ALPHA_GROUP}/v1alpha2"]),
    "v1.1.0": ("inferencepool-v1.1.0", []),
    "v1.2.0": ("inferencepool-v1.2.0", []),
    "v1.3.0": ("inferencepool-v1.3.0", []),
    "v1.4.0": ("inferencepool-v1.4.0", []),
    "v1.5.0": ("inferencepool-v1.5.0", []),
}


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run scripts/test (it fetches helm3, helm4 and kubectl)")
    return str(path)


def docs(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def group_of(obj: dict) -> str:
    return obj["apiVersion"].rpartition("/")[0]


@dataclass
class HelmEnv:
    """One Helm binary with its own empty data, config and cache folders."""

    major: int
    binary: str
    env: dict

    def run(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env, input=input)
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
        return done

    def template(self, release: str, chart: str, *extra: str, post_render: list[str] | None = None, namespace: str = "default") -> str:
        args = ["template", release, str(CHARTS / chart), "-n", namespace,
                "--set", "inferencePool.modelServers.matchLabels.app=vllm-llama3-8b-instruct", *extra]
        if post_render is not None:
            args += ["--post-renderer", str(POSTRENDER) if self.major == 3 else "infgw-postrender"]
            for arg in post_render:
                args += ["--post-renderer-args", arg]
        return self.run(*args).stdout


def helm_env(tmp: Path, major: int) -> HelmEnv:
    env = dict(os.environ)
    for key in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        (tmp / key).mkdir(parents=True, exist_ok=True)
        env[key] = str(tmp / key)
    env.pop("HELM_PLUGINS", None)
    binary = tool(f"helm{major}")
    env["HELM_BIN"] = binary
    return HelmEnv(major, binary, env)


@pytest.fixture(scope="session")
def helm3(tmp_path_factory) -> HelmEnv:
    return helm_env(tmp_path_factory.mktemp("helm3"), 3)


@pytest.fixture(scope="session")
def helm4(tmp_path_factory) -> HelmEnv:
    """Helm 4 with the post-renderer plugin installed the way users do it."""
    helm = helm_env(tmp_path_factory.mktemp("helm4"), 4)
    done = subprocess.run([str(MIGRATE), "install-postrenderer"], capture_output=True, text=True, env=helm.env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "infgw-postrender"
    return helm


@pytest.fixture(params=[3, 4], ids=["helm3", "helm4"])
def helm(request) -> HelmEnv:
    return request.getfixturevalue(f"helm{request.param}")


class Schemas:
    """openAPIV3Schema of every CRD in the fixtures, by (apiVersion, kind)."""

    def __init__(self) -> None:
        self.by_type: dict[tuple[str, str], dict] = {}
        for path in sorted((FIXTURES / "crds").glob("*.yaml")):
            for crd in docs(path.read_text()):
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if version.get("served"):
                        self.by_type[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]

    def validate(self, obj: dict) -> None:
        schema = self.by_type.get((obj["apiVersion"], obj["kind"]))
        assert schema is not None, f"no served CRD version for {obj['apiVersion']} {obj['kind']}"
        jsonschema.Draft7Validator(schema).validate(obj)
        if obj["kind"] == "InferencePool" and obj["apiVersion"] == f"{GA_GROUP}/v1":
            # The CRD's CEL rule, after its defaults: `self.kind != 'Service' || has(self.port)`.
            picker = obj["spec"]["endpointPickerRef"]
            assert picker.get("kind", "Service") != "Service" or "port" in picker, f"CEL rule fails: {picker}"


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    return Schemas()


def run_postrender(stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(POSTRENDER), *args], input=stdin, capture_output=True, text=True)


@dataclass
class Cluster:
    """A Kubernetes API on loopback and the environment that points kubectl and helm at it."""

    api: KubeAPI
    env: dict

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([tool("kubectl"), *args], capture_output=True, text=True, env=self.env, input=input)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done

    def migrate(self, *args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(MIGRATE), *args], capture_output=True, text=True, env=self.env, input=input,
                              timeout=timeout)


@pytest.fixture
def cluster(tmp_path) -> Cluster:
    """An API server with the alpha (v0.3.0) and Gateway API CRDs; kubectl and helm on PATH."""
    from kube_api import KubeAPI

    api = KubeAPI().start()
    api.load(FIXTURES / "crds" / "inference-extension-v0.3.0-manifests.yaml",
             FIXTURES / "crds" / "gateway-api-v1.4.1-standard-httproutes.yaml",
             FIXTURES / "crds" / "gateway-api-v1.4.1-standard-gateways.yaml")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(tool("kubectl"))
    (bin_dir / "helm").symlink_to(tool("helm3"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    env.update(KUBECONFIG=str(api.kubeconfig(tmp_path / "kubeconfig")), HOME=str(tmp_path),
               PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}")
    for key in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        (tmp_path / key).mkdir()
        env[key] = str(tmp_path / key)
    yield Cluster(api, env)
    api.stop()


ALPHA_RELEASE = "vllm-llama3-8b-instruct"


_ALPHA_STACK: dict = {}


def install_alpha_stack(cluster: Cluster) -> None:
    """The guide's starting point: the alpha release (v0.3.0 chart, installed by the real Helm 3), its three
    InferenceModels, the Gateway and the HTTPRoute that sends all traffic to the alpha pool.

    The first call in a test process installs it for real; later calls load the API state that install left
    (Helm keeps its release records in that state too), which saves a Helm install per test."""
    import copy

    if _ALPHA_STACK and set(cluster.api.resources) == _ALPHA_STACK["resources_before"]:
        cluster.api.objects.update(copy.deepcopy(_ALPHA_STACK["objects"]))
        cluster.api.resources.update(_ALPHA_STACK["resources"])
        cluster.api.revision = max(cluster.api.revision, _ALPHA_STACK["revision"])
        return
    resources_before = set(cluster.api.resources)
    done = subprocess.run([tool("helm3"), "install", ALPHA_RELEASE, str(CHARTS / "inferencepool-v0.3.0"),
                           "--set", f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}"],
                          capture_output=True, text=True, env=cluster.env)
    assert done.returncode == 0, done.stderr
    cluster.kubectl("apply", "-f", str(FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml"),
                    "-f", str(FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml"),
                    "-f", str(FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml"))
    _ALPHA_STACK.update(objects=copy.deepcopy(cluster.api.objects), resources=dict(cluster.api.resources),
                        revision=cluster.api.revision, resources_before=resources_before)


def gateway_controller(gateway: str = "inference-gateway") -> Callable[[dict], None]:
    """A stand-in for GKE's Gateway controller: it accepts every InferencePool and HTTPRoute written."""
    def reconcile(obj: dict) -> None:
        accepted = {"type": "Accepted", "status": "True", "reason": "Accepted",
                    "observedGeneration": obj["metadata"].get("generation", 1)}
        resolved = dict(accepted, type="ResolvedRefs", reason="ResolvedRefs")
        parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway}
        if obj["kind"] == "InferencePool" and obj["apiVersion"].startswith(GA_GROUP):
            obj["status"] = {"parents": [{"parentRef": parent, "conditions": [accepted, resolved]}]}
        elif obj["kind"] == "HTTPRoute":
            obj["status"] = {"parents": [{"parentRef": parent, "controllerName": "networking.gke.io/gateway",
                                          "conditions": [accepted, resolved]}]}
    return reconcile


def ga_pool(name: str = f"{ALPHA_RELEASE}-ga", namespace: str = "default") -> dict:
    return {"apiVersion": f"{GA_GROUP}/v1", "kind": "InferencePool", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"matchLabels": {"app": ALPHA_RELEASE}}, "targetPorts": [{"number": 8000}],
                     "endpointPickerRef": {"name": f"{name}-epp", "port": {"number": 9002}}}}


def _report_files(config) -> Path:
    return Path(config.rootpath) / ".pytest_cache" / "hardening"


def pytest_sessionstart(session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist) starts afresh
        shutil.rmtree(_report_files(session.config), ignore_errors=True)


def pytest_sessionfinish(session) -> None:
    """Each process (xdist worker or not) leaves its fuzzing tally and its part of the fault matrix on disk."""
    import json

    import test_cluster_faults
    import test_hostile_input

    folder = _report_files(session.config)
    folder.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (folder / f"{worker}.json").write_text(json.dumps({
        "tally": test_hostile_input.TALLY,
        "matrix": [[list(key), value] for key, value in test_cluster_faults.MATRIX.items()],
    }))


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Issue 5's figures: how many hostile inputs were tried and broke the post-renderer, and the fault matrix."""
    import json

    tally: dict[str, int] = {}
    matrix: dict[tuple, dict] = {}
    for path in sorted(_report_files(config).glob("*.json")):
        part = json.loads(path.read_text())
        for key, value in part["tally"].items():
            tally[key] = tally.get(key, 0) + value
        for key, value in part["matrix"]:
            matrix.setdefault(tuple(key), {}).update(value)
    if tally.get("tried"):
        terminalreporter.write_line(
            f"post-renderer fuzzing: {tally['tried']} inputs tried, {tally['results']} gave a result, "
            f"{tally['refused']} were refused (exit 2, one line), {tally['broke']} broke it")
    if matrix:
        faults = ["500", "409", "403", "timeout", "gone"]
        terminalreporter.write_line("fault matrix (command, step x fault; ok = stopped naming the step, nothing lost, "
                                    "the re-run finished):")
        terminalreporter.write_line(f"  {'command':<8} {'step':<26}" + "".join(f"{f:>9}" for f in faults))
        for (command, step), row in sorted(matrix.items()):
            cells = "".join(f"{'ok' if f in row else '-':>9}" for f in faults)
            terminalreporter.write_line(f"  {command:<8} {step:<26}{cells}")

"""Shared test fixtures: the real helm/kubectl binaries, upstream's charts and CRD schemas.

Outputs are parsed with PyYAML, not with the ruamel.yaml the tool uses, so a test reads what a user's
tooling would read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cel_rules
import jsonschema
import pytest
import yaml
from structural import unknown_fields

if TYPE_CHECKING:
    from kube_api import KubeAPI

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("INFGW_SHARED", REPO.parent / "shared"))
FIXTURES = SHARED / "fixtures"
CHARTS = FIXTURES / "charts"
TOOLS = REPO / ".tools"
POSTRENDER = Path(sys.executable).parent / "infgw-postrender"
MIGRATE = Path(sys.executable).parent / "infgw-migrate"
# No test reads the cluster of whoever runs the suite: the post-renderer checks an alpha pool through kubectl
# (--ga-weight below 100), and without a cluster of a test's own it finds none (its report says so).
# A cluster fixture sets KUBECONFIG in the environment it gives its commands.
NO_CLUSTER = str(REPO / ".no-cluster" / "kubeconfig")
os.environ["KUBECONFIG"] = NO_CLUSTER
os.environ.pop("HELM_KUBECONTEXT", None)
# Every Go binary the tests start (kubectl, Helm, kube-apiserver, Prometheus) runs on one OS thread, and the
# short-lived ones (kubectl, Helm) without garbage collection: a migrate's kubectl and Helm processes take 40% less
# CPU (`scripts/bench_migrate.py --go-env tests`), and the suite is CPU-bound on 2 cores. The servers collect
# garbage less often instead (scripts/apiserver, SERVER_GOGC), so their memory stays bounded. Neither changes what
# a binary does.
GO_ENV = {"GOMAXPROCS": "1", "GOGC": "off"}
for _name, _value in GO_ENV.items():
    os.environ.setdefault(_name, _value)
SERVER_GOGC = "400"

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
    return [doc for doc in yaml.load_all(text, Loader=yaml.CSafeLoader) if doc]


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

    def template(
        self, release: str, chart: str, *extra: str, post_render: list[str] | None = None, namespace: str = "default"
    ) -> str:
        # the llm-d-router-gateway chart refuses a top-level `inferencePool` ("deprecated"): its values are under router
        values = "router" if chart.startswith("llm-d-router") else "inferencePool"
        args = [
            "template",
            release,
            str(CHARTS / chart),
            "-n",
            namespace,
            "--set",
            f"{values}.modelServers.matchLabels.app=vllm-llama3-8b-instruct",
            *extra,
        ]
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


INFERENCE_KINDS = {"InferencePool", "InferenceObjective", "InferenceModelRewrite", "InferencePoolImport"}


class Schemas:
    """openAPIV3Schema of every CRD in the fixtures, by (apiVersion, kind); and per release (`v1.3.0`, from its
    release bundle; `llm-d-router/v0.10.0`, from its llm-d.ai CRDs). Without a release, a type takes the schema
    of the oldest release bundle that defines it (v1.0.0 for the pools and the objective, v1.3.0 for the rewrite),
    then of the other fixture files."""

    def __init__(self) -> None:
        self.by_type: dict[tuple[str, str], dict] = {}
        self.by_release: dict[str, dict[tuple[str, str], dict]] = {}
        releases = []
        for path in sorted((FIXTURES / "crds").glob("*.yaml")):
            found = re.search(
                r"^(?:inference-extension-(v[\d.]+)-release-manifests|llm-d-router-(v[\d.]+)-llm-d\.ai-crds)\.yaml$",
                path.name,
            )
            types = self._types(path)
            if found:
                name = found.group(1) or f"llm-d-router/{found.group(2)}"
                self.by_release[name] = types
                releases.append((tuple(int(n) for n in (found.group(1) or found.group(2))[1:].split(".")), types))
            else:
                self.by_type.update(types)
        for _, types in sorted(releases, reverse=True):  # the oldest release that defines a type wins
            self.by_type.update(types)

    @staticmethod
    def _types(path: Path) -> dict[tuple[str, str], dict]:
        types = {}
        for crd in docs(path.read_text()):
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    types[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
        return types

    def validate(self, obj: dict, release: str | None = None) -> None:
        """As the API server with kubectl's strict field validation: the schema, no field it would prune, and the
        CEL rules."""
        table = self.by_release[release] if release else self.by_type
        schema = table.get((obj["apiVersion"], obj["kind"]))
        if schema is None and release and obj["kind"] not in INFERENCE_KINDS:  # Gateway API, GKE: not the release's
            schema = self.by_type.get((obj["apiVersion"], obj["kind"]))
        assert schema is not None, f"no served CRD version for {obj['apiVersion']} {obj['kind']} ({release or 'any'})"
        jsonschema.Draft7Validator(schema).validate(obj)
        unknown = unknown_fields(schema, obj)
        assert not unknown, (
            f"{obj['kind']} {obj['metadata'].get('name')}: unknown fields {unknown} ({release or 'any'})"
        )
        broken = cel_rules.check(schema, obj)  # the CRD's x-kubernetes-validations, after its defaults
        assert not broken, f"{obj['kind']} {obj['metadata'].get('name')}: CEL rules fail: {broken}"


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    return Schemas()


@pytest.fixture(scope="session")
def repo_copy(tmp_path_factory) -> Path:
    """The repository's files (as a clone has them), so the install hook's venv lands in a scratch folder."""
    target = tmp_path_factory.mktemp("plugin") / "infgw-migrate"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for name in listed:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())
            (target / name).chmod(source.stat().st_mode)
    return target


def crd_mirror(root: Path, release: str = "v1.0.0") -> Path:
    """The fixtures' CRD files of a release at upstream's paths below `root` (scripts/crd_mirror.py, which
    scripts/try-it runs too)."""
    import runpy

    return runpy.run_path(str(REPO / "scripts" / "crd_mirror.py"))["crd_mirror"](FIXTURES / "crds", root, release)


def run_postrender(stdin: str, *args: str) -> subprocess.CompletedProcess:
    """`infgw-postrender ARGS < stdin`, in this process."""
    return in_process(postrender_entry(list(args)), "infgw-postrender", list(args), stdin)


def postrender_entry(args: list[str]):  # noqa: ANN201 (a click command)
    """What the installed `infgw-postrender ARGS` runs (its console script's main() reads a plain command line
    itself, and hands anything else to the click command), as a click command that CliRunner can run in this
    process: it takes any arguments, and passes `args` on as they are."""
    import click

    from infgw_postrender.cli.postrender import run_command_line

    return click.Command(
        "infgw-postrender",
        callback=lambda: run_command_line(list(args)),
        add_help_option=False,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


def in_process(
    command, name: str, args: list[str], stdin: str | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    """A click command of the tool run in this process, seen as a process: its exit status, stdout and stderr
    (a bug shows as a traceback on stderr, as from a shell)."""
    import traceback

    from click.testing import CliRunner

    from infgw_postrender.cluster import kube

    kube.forget_reads()  # a new process has read nothing yet (kube's burst of reads, what it reads once)
    kube._READ_ONCE.clear()
    kube._UNSERVED.clear()  # nor learned which kinds the server lacks, or what it may not list
    kube._ALONE.clear()
    result = CliRunner().invoke(command, args, input=stdin, env=env, prog_name=name)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess([name, *args], result.exit_code, result.stdout, stderr)


def state_file(cluster, what: str, namespace: str = "default", pool: str | None = None) -> Path:
    """Where migrate keeps a state file (backup, models, run) of `cluster` in `cluster.state`: named, as issue 31
    asks, by the server's host and port and the uid of the kube-system Namespace, both read here from the API."""
    import re

    from memory_kubectl import server_url

    uid = cluster.api.get("v1", "Namespace", "kube-system")["metadata"]["uid"]
    host = re.sub(r"[^A-Za-z0-9.-]", "_", server_url(cluster.api).split("://", 1)[1])
    return cluster.state / f"{host}_{uid}.{namespace}.{pool or ALPHA_RELEASE}.{what}.yaml"


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

    def migrate(
        self, *args: str, input: str | None = None, timeout: float = 120, env_extra: dict | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(MIGRATE), *args],
            capture_output=True,
            text=True,
            env={**self.env, **(env_extra or {})},
            input=input,
            timeout=timeout,
        )


@pytest.fixture
def emulator(tmp_path) -> Cluster:
    """An API server with the alpha (v0.3.0) and Gateway API CRDs; kubectl and helm on PATH (the e2e tier)."""
    started = start_cluster(tmp_path)
    yield started
    started.api.stop()


class InProcessCluster(Cluster):
    """The emulator on loopback, served to the real Helm (and to `kubectl wait`, a step's own child), with the tool
    run in this process and its Kubectl answered in process by the same emulator: a migrate without its 25
    kubectl processes. For matrices that run migrate again and again (test_cluster_faults); what the real kubectl
    does with a fault stays proven by tests on `emulator`."""

    def migrate(
        self, *args: str, input: str | None = None, timeout: float = 120, env_extra: dict | None = None
    ) -> subprocess.CompletedProcess:
        from infgw_postrender.cli.main import cli

        unset = {key: None for key in os.environ if key.startswith(("HELM_", "KUBE")) and key not in self.env}
        return in_process(cli, "infgw-migrate", list(args), input, {**unset, **self.env, **(env_extra or {})})


@pytest.fixture
def emulator_in_process(emulator, monkeypatch) -> InProcessCluster:
    """`emulator`, with `migrate` run as InProcessCluster runs it."""
    _kubectl_in_process(monkeypatch, emulator.api)
    return InProcessCluster(emulator.api, emulator.env)


@pytest.fixture
def cluster(emulator) -> Cluster:
    """The emulator; a module whose tests need only the tool's own reads and writes defines `cluster` as the
    in-memory `memory` instead (the fast tier), and its tests that need real binaries ask for `emulator`."""
    return emulator


def starting_api() -> KubeAPI:
    """The emulator as a cluster starts in these tests: the alpha (v0.3.0) and Gateway API CRDs, GKE's kinds."""
    from kube_api import KubeAPI

    api = KubeAPI()
    api.load(
        FIXTURES / "crds" / "inference-extension-v0.3.0-manifests.yaml",
        FIXTURES / "crds" / "gateway-api-v1.4.1-standard-httproutes.yaml",
        FIXTURES / "crds" / "gateway-api-v1.4.1-standard-gateways.yaml",
        FIXTURES / "crds" / "gateway-api-v1.4.1-standard-gatewayclasses.yaml",
    )
    for crd in GKE_CRDS:  # the server says it is GKE: it serves GKE's own kinds, which the chart renders for gke
        api.put(crd)
    api.put(GKE_GATEWAY_CLASS)
    return api


def start_cluster(tmp_path: Path) -> Cluster:
    """The `cluster` fixture's API and environment (scripts/bench_migrate starts one too); stop its api after."""
    api = starting_api().start()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(tool("kubectl"))
    (bin_dir / "helm").symlink_to(tool("helm3"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    env.update(
        KUBECONFIG=str(api.kubeconfig(tmp_path / "kubeconfig")),
        HOME=str(tmp_path),
        PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    for key in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        (tmp_path / key).mkdir()
        env[key] = str(tmp_path / key)
    return Cluster(api, env)


class FakeClock:
    """The clock in the fast tier (infgw_postrender.cluster.clock.current): a sleep moves time on at once,
    and calls `on_sleep` first, for a test to act while the tool waits (a controller that answers late)."""

    def __init__(self) -> None:
        self.now, self.slept = 1000.0, 0.0
        self.on_sleep: list = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        for hook in self.on_sleep:
            hook()
        self.now += seconds
        self.slept += seconds


@dataclass
class MemoryCluster:
    """The fast tier's cluster: the emulator's state and logic in this process, reached through the tool's own
    Kubectl (tests/memory_kubectl.py); the CLI runs in this process too. No kubectl, no Helm, no socket."""

    api: KubeAPI
    env: dict
    clock: FakeClock

    def migrate(
        self, *args: str, input: str | None = None, env_extra: dict | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess:
        """`infgw-migrate ARGS`, in this process."""
        from infgw_postrender.cli.main import cli

        return in_process(cli, "infgw-migrate", list(args), input, {**self.env, **(env_extra or {})})

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
        """`kubectl ARGS` answered by the in-memory kubectl: `-f FILE` is read here, `get` prints JSON."""
        from memory_kubectl import MemoryKubectl

        words = ["--all-namespaces" if arg == "-A" else arg for arg in args]
        if "-f" in words and words[words.index("-f") + 1] != "-":
            at = words.index("-f")
            input, words[at + 1] = Path(words[at + 1]).read_text(), "-"
        if words[0] == "get" and "-o" not in words:
            words += ["-o", "json"]
        done = MemoryKubectl(api=self.api).invoke(["kubectl", *words], input)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done


def _kubectl_in_process(monkeypatch, api: KubeAPI) -> None:
    """Every Kubectl the tool makes is a MemoryKubectl over `api`: kubectl's process is replaced by the emulator's
    logic in this process."""
    from memory_kubectl import MemoryKubectl

    from infgw_postrender.cluster import kube
    from infgw_postrender.cluster.kube import Kubectl

    read_options = Kubectl.from_options.__func__

    def from_options(cls, context: str | None, namespace: str | None) -> Kubectl:
        made = read_options(cls, context, namespace)
        return MemoryKubectl(made.binary, made.context, made.namespace, made.request_timeout, api=api)

    monkeypatch.setattr(Kubectl, "from_options", classmethod(from_options))
    monkeypatch.setattr(kube, "_KUBECONFIG_FLAG", [])  # and its --kubeconfig, which also sets KUBECONFIG:
    monkeypatch.setenv("KUBECONFIG", os.environ["KUBECONFIG"])  # put back after the test


@pytest.fixture
def memory(monkeypatch, tmp_path) -> MemoryCluster:
    """The fast tier's `cluster`: every Kubectl the tool makes is a MemoryKubectl over this emulator (the
    kubeconfig file is there, as the cluster commands check, and read by nobody)."""
    from memory_kubectl import MemoryHelm

    from infgw_postrender.cluster import clock as clock_module
    from infgw_postrender.cluster.helm import Helm

    api = starting_api()
    kubeconfig = tmp_path / "memory-kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    _kubectl_in_process(monkeypatch, api)
    monkeypatch.setattr(Helm, "from_env", classmethod(lambda cls: MemoryHelm("helm", api=api)))
    clock = FakeClock()
    monkeypatch.setattr(clock_module, "current", clock)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    return MemoryCluster(api, env, clock)


ALPHA_RELEASE = "vllm-llama3-8b-instruct"
# The class of the guide's Gateway (fixtures/objects/v0.3.0-gke-gateway.yaml), as GKE installs it
GKE_GATEWAY_CLASS = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "GatewayClass",
    "metadata": {"name": "gke-l7-regional-external-managed"},
    "spec": {"controllerName": "networking.gke.io/gateway"},
}


def _gke_crds() -> list[dict]:
    """GKE's own CRDs as the fixtures hold them (HealthCheckPolicy and GCPBackendPolicy from gke-gateway-api,
    ClusterPodMonitoring and PodMonitoring from Google Managed Prometheus), labelled as GKE's addon manager labels
    what it installs: the emulator checks the objects of those kinds against their schemas and CEL rules, as a
    real server does (the HealthCheckPolicy's portSpecification rule among them)."""
    names = ("gke-gateway-api-fc40d60-healthcheckpolicies.yaml", "gke-gateway-api-fc40d60-gcpbackendpolicies.yaml",
             "gmp-prometheus-engine-clusterpodmonitorings.yaml", "gmp-prometheus-engine-podmonitorings.yaml")  # fmt: skip
    found = [crd for name in names for crd in docs((FIXTURES / "crds" / name).read_text())]
    for crd in found:
        crd["metadata"].setdefault("labels", {})["addonmanager.kubernetes.io/mode"] = "Reconcile"
    return found


GKE_CRDS = _gke_crds()


_ALPHA_STACK: dict = {}
_REAL_POPEN = subprocess.Popen  # the fast tier's guard replaces subprocess.Popen; recording the stack needs Helm


def install_alpha_stack(cluster: Cluster | MemoryCluster) -> None:
    """The guide's starting point: the alpha release (v0.3.0 chart, installed by the real Helm 3), its three
    InferenceModels, the Gateway and the HTTPRoute that sends all traffic to the alpha pool.

    Installed for real once per test process, on an emulator of its own; every cluster then loads the state that
    install left (Helm keeps its release records in that state too), the fast tier's in-memory ones included:
    a Helm install per test saved, and the fast tier's tests start no process themselves."""
    import copy

    if not _ALPHA_STACK:
        _record_alpha_stack()
    cluster.api.objects.update(copy.deepcopy(_ALPHA_STACK["objects"]))
    cluster.api.resources.update(_ALPHA_STACK["resources"])
    cluster.api.schemas.update(_ALPHA_STACK["schemas"])
    cluster.api.revision = max(cluster.api.revision, _ALPHA_STACK["revision"])


def live_alpha_stack(cluster: Cluster | MemoryCluster) -> None:
    """The alpha stack behind a programmed Gateway (127.0.0.1) whose controller accepts what it is given."""
    install_alpha_stack(cluster)
    cluster.api.controllers.append(GatewayController())
    gateway = cluster.api.get("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    gateway["status"] = {
        "addresses": [{"value": "127.0.0.1"}],
        "conditions": [{"type": "Programmed", "status": "True"}],
    }


def _record_alpha_stack() -> None:
    import copy
    import tempfile

    guarded, subprocess.Popen = subprocess.Popen, _REAL_POPEN
    try:
        with tempfile.TemporaryDirectory() as tmp:
            recording = start_cluster(Path(tmp))
            try:
                done = subprocess.run(
                    [tool("helm3"), "install", ALPHA_RELEASE, str(CHARTS / "inferencepool-v0.3.0"),
                     "--set", f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}"],
                    capture_output=True, text=True, env=recording.env,
                )  # fmt: skip
                assert done.returncode == 0, done.stderr
                objects = FIXTURES / "objects"
                recording.kubectl("apply", "-f", str(objects / "v0.3.0-inferencemodels.yaml"),
                                  "-f", str(objects / "v0.3.0-gke-gateway.yaml"),
                                  "-f", str(objects / "v0.3.0-gke-httproute.yaml"))  # fmt: skip
                api = recording.api
                _ALPHA_STACK.update(objects=copy.deepcopy(api.objects), resources=dict(api.resources),
                                    schemas=dict(api.schemas), revision=api.revision)  # fmt: skip
            finally:
                recording.api.stop()
    finally:
        subprocess.Popen = guarded


class GatewayController:
    """A stand-in for GKE's Gateway controller, with its refusals. On every change it reconciles the whole state:
    - an HTTPRoute whose parentRefs name this Gateway gets Accepted, and ResolvedRefs True only when every
      backendRef exists (an InferencePool of its group, or a Service); otherwise ResolvedRefs False, reason
      BackendNotFound. A route of another Gateway gets nothing from it;
    - a GA InferencePool is accepted by the Gateway only while such a route references it (any weight), and
      loses that status when no route does.
    `paused` stands for a controller that has not caught up yet."""

    def __init__(self, gateway: str = "inference-gateway") -> None:
        self.gateway, self.paused = gateway, False

    def __call__(self, api: KubeAPI) -> None:
        if self.paused:
            return
        referenced: dict[tuple[str, str], list[dict]] = {}
        for route in api.all("gateway.networking.k8s.io/v1", "HTTPRoute"):
            namespace = route["metadata"]["namespace"]
            mine = [
                p
                for p in route["spec"].get("parentRefs") or []
                if p.get("kind", "Gateway") == "Gateway"
                and p.get("name") == self.gateway
                and api.get("gateway.networking.k8s.io/v1", "Gateway", self.gateway, p.get("namespace") or namespace)
            ]
            if not mine:
                continue
            missing = []
            for rule in route["spec"].get("rules") or []:
                for ref in rule.get("backendRefs") or []:
                    ref_namespace = ref.get("namespace") or namespace
                    if ref.get("kind", "Service") == "InferencePool":
                        version = "v1" if ref.get("group") == GA_GROUP else "v1alpha2"
                        found = api.get(f"{ref.get('group')}/{version}", "InferencePool", ref["name"], ref_namespace)
                        if found is not None and ref.get("group") == GA_GROUP:
                            referenced.setdefault((ref_namespace, ref["name"]), []).extend(mine)
                    else:
                        found = api.get("v1", "Service", ref["name"], ref_namespace)
                    if found is None:
                        missing.append(ref["name"])
            generation = route["metadata"].get("generation", 1)
            resolved = (
                {
                    **RESOLVED,
                    "status": "False",
                    "reason": "BackendNotFound",
                    "message": f"backend(s) not found: {', '.join(missing)}",
                    "observedGeneration": generation,
                }
                if missing
                else dict(RESOLVED, observedGeneration=generation)
            )
            route["status"] = {
                "parents": [
                    {
                        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", **p},
                        "controllerName": "networking.gke.io/gateway",
                        "conditions": [dict(ACCEPTED, observedGeneration=generation), resolved],
                    }
                    for p in mine
                ]
            }
        for pool in api.all(f"{GA_GROUP}/v1", "InferencePool"):
            parents = referenced.get((pool["metadata"]["namespace"], pool["metadata"]["name"]), [])
            pool["status"] = {"parents": [accepted_parent(self.gateway, p.get("namespace")) for p in parents[:1]]}


# metav1.Condition: type, status, reason, message and lastTransitionTime are all required by the CRD schemas
ACCEPTED = {
    "type": "Accepted",
    "status": "True",
    "reason": "Accepted",
    "message": "",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}
RESOLVED = dict(ACCEPTED, type="ResolvedRefs", reason="ResolvedRefs")


def accepted_parent(gateway: str = "inference-gateway", namespace: str | None = None) -> dict:
    ref = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway}
    return {"parentRef": {**ref, **({"namespace": namespace} if namespace else {})}, "conditions": [ACCEPTED, RESOLVED]}


def accept(pool: dict, gateway: str = "inference-gateway") -> dict:
    """A GA pool's status as the Gateway writes it once it has accepted the pool (for objects put directly)."""
    pool["status"] = {"parents": [accepted_parent(gateway)]}
    return pool


def ga_pool(name: str = f"{ALPHA_RELEASE}-ga", namespace: str = "default") -> dict:
    return {
        "apiVersion": f"{GA_GROUP}/v1",
        "kind": "InferencePool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": ALPHA_RELEASE}},
            "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": f"{name}-epp", "port": {"number": 9002}},
        },
    }


def alpha_pool(name: str = ALPHA_RELEASE, namespace: str = "default") -> dict:
    return {
        "apiVersion": f"{ALPHA_GROUP}/v1alpha2",
        "kind": "InferencePool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"app": ALPHA_RELEASE}, "targetPortNumber": 8000, "extensionRef": {"name": f"{name}-epp"}},
    }


def put_serving(api: KubeAPI, pool: dict) -> dict:
    """A pool and the EPP Deployment it names: what a route may send traffic to."""
    spec, metadata = pool["spec"], pool["metadata"]
    epp = (spec.get("endpointPickerRef") or spec.get("extensionRef"))["name"]
    api.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": epp, "namespace": metadata["namespace"]},
            "spec": {
                "selector": {"matchLabels": {"app": epp}},
                "template": {
                    "metadata": {"labels": {"app": epp}},
                    "spec": {"containers": [{"name": "epp", "image": "epp"}]},
                },
            },
        }
    )
    return api.put(pool)


# Fixtures that start real binaries or servers: a test that uses one, directly or through another, is in the e2e
# tier. Modules that start processes without them say `pytestmark = pytest.mark.e2e`.
E2E_FIXTURES = {"emulator", "helm", "helm3", "helm4"}


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        definitions = getattr(item, "_fixtureinfo", None)
        in_effect = {  # a module may define its own `cluster` (the in-memory one): that one is not e2e
            name
            for name, defined in (definitions.name2fixturedefs.items() if definitions else ())
            if defined and defined[-1].func.__module__ == "conftest"
        }
        if not item.get_closest_marker("realapi") and E2E_FIXTURES & in_effect:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _reads_of_its_own(monkeypatch) -> None:
    """Each test starts with no reads kept from another (kube's burst of reads, and what kube reads once per
    process: the server's version, Helm's)."""
    from infgw_postrender.cluster import kube

    monkeypatch.setattr(kube, "_BURST", {})
    monkeypatch.setattr(kube, "_READ_ONCE", {})
    monkeypatch.setattr(kube, "_UNSERVED", set())
    monkeypatch.setattr(kube, "_ALONE", set())


@pytest.fixture(autouse=True)
def _the_fast_tier_starts_no_process(request, monkeypatch) -> None:
    """A test outside the e2e and realapi tiers that starts a process finds no executable: the tool says it
    cannot run it, and the test fails there (or, if the tool copes, as with kubectl missing, goes on so)."""
    if request.node.get_closest_marker("e2e") or request.node.get_closest_marker("realapi"):
        return

    def refuse(args, *rest, **options):
        name = str(args[0] if isinstance(args, (list, tuple)) else args)
        raise FileNotFoundError(2, "the fast tier starts no process (mark the test e2e)", name)

    monkeypatch.setattr(subprocess, "Popen", refuse)


def _report_files(config) -> Path:
    return Path(config.rootpath) / ".pytest_cache" / "hardening"


def pytest_sessionstart(session) -> None:
    if not FIXTURES.is_dir():  # every tier reads upstream's charts and CRDs from there
        pytest.exit(f"no upstream fixtures at {FIXTURES}: set INFGW_SHARED to the folder that holds fixtures/ "
                    "(the project's shared/ folder)", returncode=4)  # fmt: skip
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist) starts afresh
        shutil.rmtree(_report_files(session.config), ignore_errors=True)


def pytest_sessionfinish(session) -> None:
    """Each process (xdist worker or not) leaves its fuzzing tally and its part of the fault matrix on disk."""
    import json

    # the modules as this process collected them (a run of a few test files may have neither)
    fuzzing, faults = sys.modules.get("test_hostile_input"), sys.modules.get("test_cluster_faults")
    folder = _report_files(session.config)
    folder.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    (folder / f"{worker}.json").write_text(
        json.dumps(
            {
                "tally": fuzzing.TALLY if fuzzing else {},
                "matrix": [[list(key), value] for key, value in (faults.MATRIX if faults else {}).items()],
            }
        )
    )


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
            f"{tally['refused']} were refused (exit 2, one line), {tally['broke']} broke it"
        )
    if matrix:
        faults = ["500", "409", "403", "timeout", "gone"]
        terminalreporter.write_line(
            "fault matrix (command, step x fault; ok = stopped naming the step, nothing lost, the re-run finished; "
            "- = not run: kubectl answered in process fails alike for every fault, test_cluster_faults.HELM_CALLS):"
        )
        terminalreporter.write_line(f"  {'command':<8} {'step':<26}" + "".join(f"{f:>9}" for f in faults))
        for (command, step), row in sorted(matrix.items()):
            cells = "".join(f"{'ok' if f in row else '-':>9}" for f in faults)
            terminalreporter.write_line(f"  {command:<8} {step:<26}{cells}")

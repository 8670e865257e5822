"""The realapi tier's fixtures: a real kube-apiserver with etcd on loopback (scripts/apiserver), one per test, the
real kubectl and Helm pointed at it, and a small controller that plays GKE's Gateway controller through the
status subresource (there is no controller-manager, scheduler or kubelet).

Without Go the tier skips with one line, unless INFGW_REQUIRE_REAL_API=1 (CI), where a missing Go or a failed
build fails the run."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import (
    ALPHA_GROUP,
    ALPHA_RELEASE,
    CHARTS,
    FIXTURES,
    GA_GROUP,
    GKE_GATEWAY_CLASS,
    MIGRATE,
    REPO,
    tool,
)  # fmt: skip

SCRIPT = REPO / "scripts" / "apiserver"
GATEWAY_API = "gateway.networking.k8s.io"


@dataclass
class RealCluster:
    folder: Path
    url: str
    env: dict
    token: str
    ca: str
    controller: GatewayController | None = None
    helm_major: int = 3

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, context: str | None = None
    ) -> subprocess.CompletedProcess:
        extra = [f"--context={context}"] if context else []
        done = subprocess.run(
            [tool("kubectl"), *extra, *args], capture_output=True, text=True, env=self.env, input=input
        )
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stderr}")
        return done

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([self.env["HELM_BIN"], *args], capture_output=True, text=True, env=self.env)
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
        return done

    def migrate(self, *args: str, timeout: float = 300, env_extra: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(MIGRATE), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env_extra or {})},
        )

    def request(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}{path}",
            json=body,
            verify=self.ca,
            timeout=10,
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def get(self, path: str) -> dict | None:
        answer = self.request("GET", path)
        return answer.json() if answer.status_code == 200 else None

    def items(self, path: str) -> list[dict]:
        return (self.get(path) or {}).get("items", [])

    def apply_files(self, *paths: Path) -> None:
        args = [arg for path in paths for arg in ("-f", str(path))]
        self.kubectl("apply", "--server-side", *args)
        names = [
            doc["metadata"]["name"]
            for path in paths
            for doc in _docs(path)
            if doc["kind"] == "CustomResourceDefinition"
        ]
        if names:
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])


def _docs(path: Path) -> list[dict]:
    import yaml

    return [doc for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if doc]


def _go_missing() -> str | None:
    if shutil.which("go"):
        return None
    return "no `go` on PATH: the realapi tier builds kube-apiserver from Go modules (Go 1.26)"


@functools.cache
def build_server() -> Path:
    """Once per test process (the binary); skipped (or, with INFGW_REQUIRE_REAL_API=1, failed) when it cannot be
    built."""
    required = os.environ.get("INFGW_REQUIRE_REAL_API") == "1"
    why = _go_missing()
    if why is None:
        done = subprocess.run([sys.executable, str(SCRIPT), "build"], capture_output=True, text=True)
        if done.returncode == 0:
            return Path(done.stdout.strip())
        why = f"scripts/apiserver build failed: {done.stderr.strip()[-400:]}"
    if required:
        pytest.fail(why)
    pytest.skip(why)


# What the guide's starting point needs of a cluster before anything is installed: the alpha CRDs (v0.3.0), the
# Gateway API's, GKE's policies and Google Managed Prometheus' (the charts render objects of both for gke)
STARTING_CRDS = [
    FIXTURES / "crds" / name
    for name in (
        "inference-extension-v0.3.0-manifests.yaml",
        "gateway-api-v1.4.1-standard-gatewayclasses.yaml",
        "gateway-api-v1.4.1-standard-gateways.yaml",
        "gateway-api-v1.4.1-standard-httproutes.yaml",
        "gke-gateway-api-fc40d60-healthcheckpolicies.yaml",
        "gke-gateway-api-fc40d60-gcpbackendpolicies.yaml",
        "gmp-prometheus-engine-clusterpodmonitorings.yaml",
        "gmp-prometheus-engine-podmonitorings.yaml",
    )
]


def _start(folder: Path, home: Path, seed: Path | None) -> RealCluster:
    """`scripts/apiserver up` in `folder` (from the etcd data `seed`, if given), with the real kubectl and Helm
    pointed at it and `home` as their HOME."""
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "up", str(folder), *([str(seed)] if seed else [])], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/apiserver up: {done.stderr.strip()}")
    started = json.loads(done.stdout)
    config = json.loads((folder / "kubeconfig").read_text())
    token = next(u["user"]["token"] for u in config["users"] if u["name"] == "admin")
    bin_dir = home / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(tool("kubectl"))
    (bin_dir / "helm").symlink_to(tool("helm3"))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    env.update(
        KUBECONFIG=started["kubeconfig"],
        HOME=str(home),
        HELM_BIN=tool("helm3"),
        PATH=f"{bin_dir}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    for key in ("HELM_DATA_HOME", "HELM_CONFIG_HOME", "HELM_CACHE_HOME"):
        (home / key).mkdir()
        env[key] = str(home / key)
    return RealCluster(folder, started["url"], env, token, str(folder / "ca.crt"))


@functools.cache
def starting_seed(server: Path) -> Path:
    """The etcd data of a server that holds STARTING_CRDS, applied as a test would apply them (`kubectl apply
    --server-side`, then Established). Made once per server binary and CRD files, by the first test process that
    asks (the others wait on its lock), and kept in .tools/apiserver: every test's server starts from a copy, which
    saves it creating and compiling the CRDs again (2.4 CPU seconds and 3 s each, on 2 cores)."""
    import fcntl
    import hashlib
    import tempfile

    digest = hashlib.sha256(server.name.encode())
    for path in STARTING_CRDS:
        digest.update(path.read_bytes())
    seed = server.parent / f"seed-{digest.hexdigest()[:12]}"
    with open(server.parent / "seed.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (seed / "member").is_dir():
            for old in server.parent.glob("seed-*"):  # of other CRD files or another build, or half made
                shutil.rmtree(old)
            with tempfile.TemporaryDirectory(prefix="seed-", suffix=".partial", dir=server.parent) as work:
                cluster = _start(Path(work) / "apiserver", Path(work), None)
                try:
                    cluster.apply_files(*STARTING_CRDS)
                finally:
                    done = subprocess.run(
                        [sys.executable, str(SCRIPT), "save", str(cluster.folder), f"{work}/etcd"],
                        capture_output=True,
                        text=True,
                    )
                assert done.returncode == 0, done.stderr
                os.rename(f"{work}/etcd", seed)  # whole, or not there
    return seed


@pytest.fixture
def real(tmp_path, request) -> RealCluster:
    """A fresh kube-apiserver + etcd for this test, with the CRDs the guide's starting point needs."""
    server = build_server()
    cluster = _start(tmp_path / "apiserver", tmp_path, starting_seed(server))
    try:
        yield cluster
    finally:
        if cluster.controller:
            cluster.controller.stop()
        subprocess.run([sys.executable, str(SCRIPT), "down", str(cluster.folder)], capture_output=True)


def use_helm(cluster: RealCluster, major: int) -> None:
    """Point the tool and the tests at Helm 3 or Helm 4 (with the post-renderer plugin installed, as users do)."""
    cluster.env["HELM_BIN"] = tool(f"helm{major}")
    link = Path(cluster.env["PATH"].split(":")[0]) / "helm"
    link.unlink()
    link.symlink_to(tool(f"helm{major}"))
    cluster.helm_major = major
    if major == 4:
        done = subprocess.run([str(MIGRATE), "install-postrenderer"], capture_output=True, text=True, env=cluster.env)
        assert done.returncode == 0, done.stderr


def install_alpha_stack(cluster: RealCluster) -> None:
    """The guide's starting point on the real server: the v0.3.0 chart's alpha release, its InferenceModels, the
    Gateway and the HTTPRoute that sends all traffic to the alpha pool. Without GKE's policies: GKE's
    HealthCheckPolicy CRD refuses the one v0.3.0 renders (a port without portSpecification), which the tool's
    post-renderer fixes only for the GA release it renders."""
    cluster.helm(
        "install",
        ALPHA_RELEASE,
        str(CHARTS / "inferencepool-v0.3.0"),
        "--set",
        f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}",
    )
    cluster.kubectl("apply", "-f", "-", input=json.dumps(GKE_GATEWAY_CLASS))
    cluster.kubectl(
        "apply",
        "-f",
        str(FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml"),
        "-f",
        str(FIXTURES / "objects" / "v0.3.0-gke-gateway.yaml"),
        "-f",
        str(FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml"),
    )


def _standin():
    """scripts/gateway-standin as a module: the realapi tests play GKE's controller with the very stand-in
    scripts/try-it runs."""
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("gateway_standin", str(REPO / "scripts" / "gateway-standin"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


STANDIN = _standin()


@dataclass
class GatewayController:
    """GKE's Gateway controller, as far as the migration sees it (scripts/gateway-standin's Controller, which
    says what it reports), run in a thread of the test against the real server; the emulator's GatewayController
    makes the same refusals."""

    cluster: RealCluster
    namespace: str = "default"
    paused: bool = False
    error: str | None = None  # the last reconcile that failed, other than the server going away
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _round: threading.Lock = field(default_factory=threading.Lock)  # held while a round of reconcile runs

    def __post_init__(self) -> None:
        self.rounds = STANDIN.Controller(self.cluster, self.namespace)

    def start(self) -> GatewayController:
        self.cluster.controller = self
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def reconcile(self) -> None:
        self.rounds.reconcile()

    @contextlib.contextmanager
    def held(self):
        """Paused, once a round under way has ended and more have settled what it left: within it, nothing the
        controller writes changes a resourceVersion that a test compares."""
        with self._round:
            self.paused = True
            for _ in range(5):  # until a round writes nothing
                before = self.rounds.writes
                self.reconcile()
                if self.rounds.writes == before:
                    break
        try:
            yield
        finally:
            self.paused = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._round:
                if not self.paused:
                    try:
                        self.reconcile()
                    except requests.RequestException:
                        pass  # the server is going away, or busy: the next round tries again
                    except Exception as error:  # noqa: BLE001 (kept for the test to show; the next round tries again)
                        self.error = repr(error)
            self._stop.wait(0.3)


@pytest.fixture
def alpha(real, server, tmp_path):
    """The alpha stack live behind a Gateway the test controller programs; the tool's flags for it (`args`)."""
    from completions import Completions
    from conftest import crd_mirror

    Completions.behaviour = "ok"
    install_alpha_stack(real)
    GatewayController(real).start()
    (tmp_path / "state").mkdir()
    real.args = ["--alpha-pool", ALPHA_RELEASE, "--chart", str(CHARTS / "inferencepool-v1.0.0"),
                 "--crd-source", str(crd_mirror(tmp_path / "mirror")), "--state-dir", str(tmp_path / "state"),
                 "--verify-url", f"http://127.0.0.1:{server.server_address[1]}/v1/completions"]  # fmt: skip
    return real


def stored_objects(cluster: RealCluster, namespace: str = "default") -> dict[tuple, str]:
    """(apiVersion, kind, name) -> resourceVersion of every object of the namespace the migration touches."""
    found = {}
    for path in (
        f"/apis/{GA_GROUP}/v1/namespaces/{namespace}/inferencepools",
        f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/{namespace}/inferencepools",
        f"/apis/{ALPHA_GROUP}/v1alpha2/namespaces/{namespace}/inferenceobjectives",
        f"/apis/{GATEWAY_API}/v1/namespaces/{namespace}/httproutes",
        f"/apis/apps/v1/namespaces/{namespace}/deployments",
        f"/api/v1/namespaces/{namespace}/services",
        f"/api/v1/namespaces/{namespace}/secrets",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    ):
        for obj in cluster.items(path):
            found[
                (obj["apiVersion"] if "apiVersion" in obj else path, obj.get("kind", path), obj["metadata"]["name"])
            ] = obj["metadata"]["resourceVersion"]
    return found


@dataclass
class HoldingWebhook:
    """A validating admission webhook, served on loopback over TLS, that the real server calls for one operation
    on one resource: the first such request is held until the test releases it (`arrived` says it came), every
    other one is allowed at once. While it is held, the writer (Helm, kubectl) is mid-write: that is where a
    SIGKILL lands deterministically."""

    cluster: RealCluster
    operation: str  # CREATE | UPDATE | DELETE
    group: str
    resource: str
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    seen: list[str] = field(default_factory=list)
    scope: str = "Namespaced"  # "Cluster" for a cluster-scoped resource (CRDs)
    deny: bool = False  # refuse every such request that is not a dry run (a write that fails), holding none

    def start(self) -> HoldingWebhook:
        import base64
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = review["request"]
                webhook.seen.append(f"{request['operation']} {request.get('namespace', '')}/{request.get('name', '')}")
                denied = webhook.deny and not request.get("dryRun")
                if not webhook.arrived.is_set():
                    webhook.arrived.set()
                    if not webhook.deny:
                        webhook.release.wait(25)  # under the server's 30 s webhook timeout
                response = {"uid": request["uid"], "allowed": not denied}
                if denied:
                    response["status"] = {"code": 500, "message": "refused by the test's webhook"}
                body = json.dumps(
                    {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
                ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the server gave up on this request: its client (killed) went away

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # the API server's own serving certificate is for 127.0.0.1 too, signed by the CA its kubeconfig trusts
        context.load_cert_chain(self.cluster.folder / "serving.crt", self.cluster.folder / "serving.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps(
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingWebhookConfiguration",
                    "metadata": {"name": "hold"},
                    "webhooks": [
                        {
                            "name": "hold.infgw-migrate.test",
                            "admissionReviewVersions": ["v1"],
                            "sideEffects": "None",
                            "failurePolicy": "Ignore",
                            "timeoutSeconds": 30,
                            "clientConfig": {
                                "url": f"https://127.0.0.1:{self.server.server_address[1]}/hold",
                                "caBundle": base64.b64encode(Path(self.cluster.ca).read_bytes()).decode(),
                            },
                            "rules": [
                                {
                                    "operations": [self.operation],
                                    "apiGroups": [self.group],
                                    "apiVersions": ["*"],
                                    "resources": [self.resource],
                                    "scope": self.scope,
                                }
                            ],
                        }
                    ],
                }
            ),
        )
        return self

    def stop(self) -> None:
        self.release.set()
        self.cluster.kubectl("delete", "validatingwebhookconfiguration", "hold", "--ignore-not-found")
        self.server.shutdown()
        self.server.server_close()

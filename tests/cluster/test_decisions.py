"""Issue 22.4: the pure decisions, called directly, as tables. Each expected value is worked out by hand from the
rule it stands for (Gateway API's weights, the guide's stages, kubectl's messages, the analysis thresholds), not
taken from the code's output."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import click
import pytest
from conftest import ALPHA_GROUP, GA_GROUP

from infgw_postrender.cli.params import DURATION, PERCENT, PERCENTS
from infgw_postrender.cluster import kube
from infgw_postrender.cluster.analysis import StageAnalysis, Thresholds
from infgw_postrender.cluster.backends import alpha_refs, ga_share, weight_of
from infgw_postrender.cluster.kube import ClusterError, Conflict, Kubectl, NotFound
from infgw_postrender.cluster.prepare import prepare
from infgw_postrender.cluster.run import go_on_command, next_stages
from infgw_postrender.cluster.settings import Settings
from infgw_postrender.errors import InputError, Refused


def ref(group: str, name: str, weight: int | None = None) -> dict:
    found = {"group": group, "kind": "InferencePool", "name": name}
    return found if weight is None else {**found, "weight": weight}


ALPHA, GA = ref(ALPHA_GROUP, "vllm"), ref(GA_GROUP, "vllm-ga")
SERVICE = {"name": "static", "port": 80, "weight": 7}

# Gateway API: a backendRef without a weight weighs 1; the GA pool's share is its weight over both pools' weights,
# the least over the rules that hold either pool; a rule without the GA pool (but with the alpha one) means the
# GA pool is not on the route yet; other backends do not count
GA_SHARE = [
    ("alpha only", [[{**ALPHA, "weight": 100}]], None),
    ("GA at 0", [[{**ALPHA, "weight": 100}, {**GA, "weight": 0}]], 0),
    ("50/50", [[{**ALPHA, "weight": 50}, {**GA, "weight": 50}]], 50),
    ("30 of 100", [[{**ALPHA, "weight": 70}, {**GA, "weight": 30}]], 30),
    ("GA alone", [[{**GA, "weight": 100}]], 100),
    ("GA alone, no weight", [[GA]], 100),
    ("both without weights: 1 and 1", [[ALPHA, GA]], 50),
    ("1 of 3", [[{**ALPHA, "weight": 2}, GA]], 33),
    ("2 of 3", [[ALPHA, {**GA, "weight": 2}]], 67),
    ("a Service beside them does not count", [[{**ALPHA, "weight": 1}, {**GA, "weight": 1}, SERVICE]], 50),
    ("the least over two rules", [[{**ALPHA, "weight": 10}, {**GA, "weight": 90}], [{**ALPHA, "weight": 60}, {**GA, "weight": 40}]], 40),
    ("a rule of other backends is skipped", [[SERVICE], [{**ALPHA, "weight": 25}, {**GA, "weight": 75}]], 75),
    ("one rule still without the GA pool", [[{**GA, "weight": 100}], [{**ALPHA, "weight": 100}]], None),
    ("both at 0", [[{**ALPHA, "weight": 0}, {**GA, "weight": 0}]], 0),
    ("another GA pool is not ours", [[{**ALPHA, "weight": 50}, ref(GA_GROUP, "other", 50)]], None),
    ("the alpha name in the GA group is the GA pool's only if so named", [[ref(GA_GROUP, "vllm", 100)]], None),
    ("no rules", [], None),
]  # fmt: skip


@pytest.mark.parametrize("rules, share", [row[1:] for row in GA_SHARE], ids=[row[0] for row in GA_SHARE])
def test_ga_share(rules, share):
    assert ga_share([{"backendRefs": refs} for refs in rules], "vllm", "vllm-ga") == share


@pytest.mark.parametrize("backend, weight", [({"name": "x"}, 1), ({"name": "x", "weight": 0}, 0), ({"weight": 7}, 7)])
def test_an_absent_weight_is_one(backend, weight):
    assert weight_of(backend) == weight


def test_alpha_refs_keep_only_the_alpha_pools_and_drop_emptied_rules():
    rules = [{"backendRefs": [ALPHA, GA]}, {"backendRefs": [GA, SERVICE]}, {"matches": [], "backendRefs": [ALPHA]}]
    assert alpha_refs(rules) == [{"backendRefs": [ALPHA]}, {"backendRefs": [ALPHA]}]


# -- the guide's stages: what is left after a run that stopped short ----------------------------------------------
def settings(**changes) -> Settings:
    made = Settings(
        namespace="llm", kube_context=None, path="zero-downtime", alpha_pool="vllm",
        ga_release="vllm-ga", chart="oci://charts/inferencepool", chart_version="v1.0.0", target_version="v1.0.0",
        route="llm-route", gateway="inference-gateway",
    )  # fmt: skip
    return replace(made, **changes)


@pytest.mark.parametrize(
    "path, stages, left",
    [
        ("zero-downtime", [], [0, 50, 100]),  # no stages asked: the guide's three
        ("zero-downtime", [0], [0, 100]),
        ("zero-downtime", [0, 50], [0, 50, 100]),
        ("zero-downtime", [0, 25, 75], [0, 25, 75, 100]),
        ("zero-downtime", [0, 50, 100], None),  # goes to the end
        ("zero-downtime", [100], None),
        ("simple", [], None),  # the simple path has no stages to stop at
    ],
)
def test_next_stages(path, stages, left):
    assert next_stages(settings(path=path, stages=stages)) == left


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--alpha-pool", "vllm", "--stages", "0"], "infgw-migrate migrate --alpha-pool vllm -n llm --stages 0,100"),
        (["--stages=0,50", "--alpha-pool", "vllm", "-n", "llm"], "infgw-migrate migrate --alpha-pool vllm -n llm --stages 0,50,100"),
        (["--namespace=llm", "--alpha-pool", "vllm", "--stages", "0"], "infgw-migrate migrate --namespace=llm --alpha-pool vllm --stages 0,100"),
    ],
)  # fmt: skip
def test_the_command_that_goes_on_keeps_the_flags_and_asks_the_rest_of_the_stages(argv, expected, monkeypatch):
    monkeypatch.delenv("HELM_PLUGIN_NAME", raising=False)
    stages = [int(s) for s in (argv[argv.index("--stages") + 1] if "--stages" in argv else argv[0][9:]).split(",")]
    assert go_on_command(settings(stages=stages), argv) == expected


def test_under_helm_the_command_that_goes_on_is_helm_s(monkeypatch):
    monkeypatch.setenv("HELM_PLUGIN_NAME", "infgw-migrate")
    assert go_on_command(settings(stages=[0]), ["--alpha-pool", "vllm"]).startswith("helm infgw-migrate migrate ")


# -- prepare: what the GA chart gets from the alpha pool, and what is refused before any step --------------------
POOL = {"spec": {"selector": {"app": "vllm", "tier": "gpu"}, "targetPortNumber": 8000}}
MODELS = [{"spec": {"modelName": "food-review"}}, {"spec": {"modelName": "base"}}]
SELECTOR = "inferencePool.modelServers.matchLabels."


@pytest.mark.parametrize(
    "given, version, values",
    [
        ([], "v1.34.1", [f"{SELECTOR}app=vllm", f"{SELECTOR}tier=gpu", "inferencePool.targetPorts[0].number=8000"]),
        ([], "v1.33.5-gke.1080000", [f"{SELECTOR}app=vllm", f"{SELECTOR}tier=gpu", "inferencePool.targetPorts[0].number=8000", "provider.name=gke"]),
        ([f"{SELECTOR}app=vllm", f"{SELECTOR}tier=gpu"], "v1.34.1", [f"{SELECTOR}app=vllm", f"{SELECTOR}tier=gpu", "inferencePool.targetPorts[0].number=8000"]),
        (["provider.name=none"], "v1.35.0-gke.5", ["provider.name=none", f"{SELECTOR}app=vllm", f"{SELECTOR}tier=gpu", "inferencePool.targetPorts[0].number=8000"]),
    ],
)  # fmt: skip
def test_prepare_takes_selector_port_and_provider_from_the_alpha_pool(given, version, values):
    prepared = prepare(settings(chart_values=given), POOL, version, None, {"vllm": "deployed"}, MODELS)
    assert prepared.chart_values == values
    assert prepared.model == "food-review"  # verify asks for a model of the alpha pool


@pytest.mark.parametrize(
    "given, status, error, words",
    [
        ([f"{SELECTOR}app=other"], "deployed", InputError, "differs from the alpha pool's selector app=vllm,tier=gpu"),
        (["inferencePool.targetPorts[0].number=9000"], "deployed", InputError, "the alpha pool's target port is 8000"),
        ([], "pending-install", Refused, "run `helm uninstall vllm -n llm`"),
        ([], "pending-upgrade", Refused, "run `helm rollback vllm -n llm`"),
        ([], "pending-rollback", Refused, "run `helm rollback vllm -n llm`"),
    ],
)  # fmt: skip
def test_prepare_refuses_before_any_step(given, status, error, words):
    with pytest.raises(error, match=".*") as raised:
        prepare(settings(chart_values=given), POOL, "v1.34.1", None, {"vllm": status}, MODELS)
    assert words in raised.value.format_message()


def test_without_the_alpha_pool_or_a_state_file_the_selector_must_be_given():
    with pytest.raises(InputError) as raised:
        prepare(settings(), None, "v1.34.1", None, {"vllm": None}, MODELS)
    assert f"pass --set {SELECTOR}KEY=VALUE" in raised.value.format_message()


def test_once_the_alpha_pool_is_gone_the_run_s_state_gives_the_values():
    saved = {"chartValues": [f"{SELECTOR}app=vllm", "inferencePool.targetPorts[0].number=8000"], "model": "base"}
    prepared = prepare(settings(path="simple"), None, "v1.34.1", None, {"vllm": None}, [], saved)
    assert prepared.chart_values == saved["chartValues"] and prepared.model == "base"


def test_a_half_installed_ga_release_of_this_run_without_traffic_is_installed_again():
    statuses = {"vllm": "deployed", "vllm-ga": "pending-install"}
    again = prepare(settings(installs=["vllm-ga"]), POOL, "v1.34.1", None, statuses, MODELS, None, True, 0)
    assert again.recover == "vllm-ga"
    with pytest.raises(Refused):  # with traffic on it, it is the user's to look at
        prepare(settings(installs=["vllm-ga"]), POOL, "v1.34.1", None, statuses, MODELS, None, True, 10)


# -- a stage's verdict ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sent, succeeded, latencies, stopped, failure",
    [
        (20, 20, [100.0] * 20, None, None),
        (100, 99, [100.0] * 99, None, None),  # 99% meets 99%
        (100, 98, [100.0] * 98, None, "success 98.0% < 99%"),
        (20, 19, [100.0] * 19, None, "success 95.0% < 99%"),
        (20, 20, [100.0] * 18 + [6000.0] * 2, None, "p95 6000 ms > 5000 ms"),  # nearest rank: the 19th of 20
        (20, 20, [100.0] * 19 + [6000.0], None, None),  # one slow request of 20 is past the 95th percentile
        (0, 0, [], None, "no request was sent"),
        (3, 0, [], "the analysis timeout (2s) passed", "the analysis timeout (2s) passed"),
        (5, 5, [10.0] * 5, "the analysis timeout (2s) passed", None),  # stopped early, but what was sent passed
    ],
)
def test_a_stage_s_verdict(sent, succeeded, latencies, stopped, failure):
    found = StageAnalysis(50, "http://gw", sent, succeeded, latencies, stopped=stopped)
    assert found.failure(Thresholds(min_success=0.99, max_p95_s=5.0)) == failure


# -- what people type ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, text, value",
    [
        (DURATION, "300ms", 0.3), (DURATION, "5s", 5.0), (DURATION, "2m", 120.0), (DURATION, "1h", 3600.0),
        (DURATION, "90", 90.0), (DURATION, "1.5m", 90.0),
        (PERCENT, "0", 0), (PERCENT, "100", 100), (PERCENT, "37", 37),
        (PERCENTS, "0,50,100", [0, 50, 100]), (PERCENTS, "25", [25]), (PERCENTS, "", []),
    ],
)  # fmt: skip
def test_values_people_type(kind, text, value):
    assert kind.convert(text, None, None) == value


@pytest.mark.parametrize(
    "kind, text, words",
    [
        (DURATION, "5 minutes", "expected a duration such as 500ms, 5s or 2m"), (DURATION, "0s", "must be more than 0"),
        (DURATION, "-5s", "must be more than 0"), (PERCENT, "101", "out of range"), (PERCENT, "-1", "out of range"),
        (PERCENT, "half", "not a whole number"), (PERCENTS, "0,150", "weights go from 0 to 100"),
        (PERCENTS, "0;50", "expected weights such as 0,50,100"),
    ],
)  # fmt: skip
def test_values_people_mistype_are_one_line_that_names_the_flag(kind, text, words):
    flag = click.Option(["--timeout"])
    with pytest.raises(InputError) as raised:
        kind.convert(text, flag, None)
    message = raised.value.format_message()
    assert message.startswith("--timeout") and words in message and "\n" not in message


# -- what kubectl's failures mean ---------------------------------------------------------------------------------
class Answering(Kubectl):
    """kubectl that fails with this stderr (as kubectl 1.35 writes it)."""

    def __init__(self, stderr: str) -> None:
        super().__init__()
        self.stderr = stderr

    def invoke(self, command, input):  # noqa: ANN001, ANN201
        import subprocess

        return subprocess.CompletedProcess(command, 1, "", self.stderr)


@pytest.mark.parametrize(
    "stderr, kind, message",
    [
        ('Error from server (NotFound): httproutes.gateway.networking.k8s.io "llm-route" not found', NotFound,
         '(NotFound): httproutes.gateway.networking.k8s.io "llm-route" not found'),
        ('error: the server doesn\'t have a resource type "inferencemodels"', NotFound,
         'the server doesn\'t have a resource type "inferencemodels"'),
        ('Error from server (Conflict): Operation cannot be fulfilled on httproutes "llm-route": the object has been modified',
         Conflict, "(Conflict): Operation cannot be fulfilled"),
        ('Error from server (AlreadyExists): inferencepools "vllm-ga" already exists', Conflict, "(AlreadyExists)"),
        ("Error from server (Forbidden): httproutes is forbidden: User \"alice\" cannot patch resource", ClusterError,
         "(Forbidden): httproutes is forbidden"),
        ("E1202 18:32:23.447168 20933 memcache.go:265] noise\nThe connection to the server localhost:8080 was refused",
         ClusterError, "The connection to the server localhost:8080 was refused"),
        ("error: You must be logged in to the server (Unauthorized): token abc123", ClusterError, "token [redacted]"),
        ('Error from server (NotFound): a "x" not found\nError from server (NotFound): b "y" not found', NotFound,
         "(and 1 more like it)"),
    ],
)  # fmt: skip
def test_kubectl_s_failures_mean_what_they_say(stderr, kind, message):
    with pytest.raises(ClusterError) as raised:
        Answering(stderr).run(["get", "x"], "read it")
    assert type(raised.value) is kind
    assert raised.value.format_message().startswith("read it: ") and message in raised.value.format_message()
    assert "E1202" not in raised.value.format_message()


# -- a burst of reads (kube.Kubectl.run) --------------------------------------------------------------------------
class Counting(Kubectl):
    """kubectl that answers every command with its own count so far: a read answered again shows an old count."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[list[str]] = []

    def invoke(self, command, input):  # noqa: ANN001, ANN201
        import subprocess

        self.started.append(command)
        if "missing" in command:
            return subprocess.CompletedProcess(
                command, 1, "", 'Error from server (NotFound): routes "missing" not found'
            )
        return subprocess.CompletedProcess(command, 0, f'{{"kind": "X", "n": {len(self.started)}}}', "")


def _ends_with_a_write(kubectl: Kubectl) -> None:
    kubectl.run(["patch", "x", "y"], "change it")


def _ends_with_a_sleep(kubectl: Kubectl) -> None:
    from infgw_postrender.cluster import waits

    waits.sleep(1)


def _helm(verb: str) -> Callable[[Kubectl], None]:
    def run(kubectl: Kubectl) -> None:
        import contextlib

        from infgw_postrender.cluster.helm import Helm
        from infgw_postrender.errors import MigrateError

        with contextlib.suppress(MigrateError):  # the fast tier starts no process: the attempt is what counts
            Helm("helm").run(verb, "x")

    return run


@pytest.mark.parametrize(
    "between, reads",
    [
        (lambda kubectl: None, 1),  # the same read in one judgement: one kubectl
        (_ends_with_a_write, 2),  # read, patch, read again
        (_ends_with_a_sleep, 2),  # a poll's next read is fresh
        (_helm("upgrade"), 2),  # Helm may change the cluster
        (_helm("status"), 1),  # not by reading a release
        (lambda kubectl: kubectl.run(["create", "-f", "-"], "review", changes=False), 1),  # a review changes nothing
        (lambda kubectl: kubectl.server_version(), 1),  # nor does asking the server's version
        (lambda kubectl: setattr(kubectl, "context", "other"), 2),  # another context is another cluster
    ],
)
def test_a_burst_of_reads_reads_once_until_something_may_change(memory, between, reads):
    kubectl = Counting()
    first = kubectl.get_one("routes", "r", "default", "read it")
    between(kubectl)
    again = kubectl.get_one("routes", "r", "default", "read it again")
    assert len([command for command in kubectl.started if "get" in command]) == reads
    assert (first == again) is (reads == 1), "a read answered again is the same answer; a new one is new"


def test_an_absence_is_answered_again_under_the_new_step_s_name(memory):
    kubectl = Counting()
    assert kubectl.find("routes", "missing", "default", "read it") is None
    with pytest.raises(NotFound, match=r"^read it again: \(NotFound\)"):
        kubectl.get_one("routes", "missing", "default", "read it again")
    assert len(kubectl.started) == 1


def test_the_burst_ends_after_its_seconds_on_the_clock(memory):
    kubectl = Counting()
    kubectl.get_one("routes", "r", "default", "read it")
    memory.clock.now += kube.BURST_SECONDS + 0.1
    kubectl.get_one("routes", "r", "default", "read it")
    assert len(kubectl.started) == 2


def test_helm_answers_a_release_read_once_per_burst(memory, monkeypatch):
    import subprocess

    from infgw_postrender.cluster.helm import Helm

    started: list[tuple[str, ...]] = []

    def start(helm: Helm, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        started.append(args)
        return subprocess.CompletedProcess(args, 0, f'{{"info": {{"status": "deployed"}}, "n": {len(started)}}}', "")

    monkeypatch.setattr(Helm, "_start", start)
    helm = Helm("helm")
    assert helm.status("vllm", "default", None) == helm.status("vllm", "default", None)
    helm.status("vllm-ga", "default", None)  # another release is another read
    helm.run("upgrade", "vllm-ga", "chart")
    helm.status("vllm", "default", None)  # after an upgrade, read again
    assert [args[:2] for args in started] == [
        ("status", "vllm"), ("status", "vllm-ga"), ("upgrade", "vllm-ga"), ("status", "vllm")
    ]  # fmt: skip


# -- reads together: one kubectl call per judgement -----------------------------------------------------------
def _stack(memory, ga_crd: bool) -> Kubectl:
    """The guide's route and Gateway, the alpha pool and its EPP (and the GA pool's CRD when asked)."""
    from conftest import FIXTURES, alpha_pool, put_serving

    files = [
        FIXTURES / "objects" / f"v0.3.0-{name}.yaml" for name in ("gke-httproute", "gke-gateway", "inferencemodels")
    ]
    memory.api.load(*files, *([FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml"] if ga_crd else []))
    put_serving(memory.api, alpha_pool())
    return Kubectl.from_options(None, None)


def _gets(kubectl: Kubectl) -> list[str]:
    return [call[1] for call in kubectl.calls if call[0] == "get"]  # type: ignore[attr-defined]


def test_a_judgement_reads_what_it_judges_from_in_one_kubectl_call(memory):
    """A shift's judgement (the route, its Gateway and class, the alpha pool, its models and EPP, a GA pool that
    is not there yet) is one `kubectl get a,b,c`: the server's objects, and kubectl's NotFound for an absence."""
    from conftest import ALPHA_RELEASE

    from infgw_postrender.api.mapping import api

    resources = api().cluster.resources
    kubectl = _stack(memory, ga_crd=True)
    route = kubectl.get_one(resources.route, "llm-route", "default", "read the route")
    gateway = kubectl.find(resources.gateway, "inference-gateway", "default", "read the Gateway")
    gateway_class = kubectl.find(resources.gateway_class, gateway["spec"]["gatewayClassName"], None, "read its class")
    models = kubectl.get([resources.alpha_model], "list the models", "default")
    assert kubectl.find(resources.ga_pool, f"{ALPHA_RELEASE}-ga", "default", "read the GA pool") is None
    with pytest.raises(NotFound, match=r'^read the GA pool again: \(NotFound\): inferencepools.inference.networking.k8s.io "x" not found$'):  # fmt: skip
        kubectl.get_one(resources.ga_pool, "x", "default", "read the GA pool again")
    pool, epp = kubectl.get_named(
        [(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", "default", ALPHA_RELEASE),
         ("apps/v1", "Deployment", "default", f"{ALPHA_RELEASE}-epp")],
        "read the pool and its EPP",
    )  # fmt: skip
    assert len(_gets(kubectl)) == 1, _gets(kubectl)
    stored = memory.api.get
    assert route == stored("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    assert gateway == stored("gateway.networking.k8s.io/v1", "Gateway", "inference-gateway")
    assert gateway_class["spec"]["controllerName"] == "networking.gke.io/gateway"
    assert models == memory.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceModel") and len(models) == 3
    assert pool == stored(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE)
    assert epp == stored("apps/v1", "Deployment", f"{ALPHA_RELEASE}-epp")


def test_a_kind_the_server_lacks_is_left_out_until_its_crd_is_applied(memory):
    """Before the CRD step the server has no v1 InferencePool: kubectl fails a read of several kinds on it, so it
    is left out (one more call, once) and a read of it is kubectl's NotFound; once its CRD is applied it is read
    together again. Once the alpha CRDs are deleted, the alpha kinds are left out with no failed call."""
    from conftest import ALPHA_RELEASE, FIXTURES

    from infgw_postrender.api.mapping import api

    resources = api().cluster.resources
    kubectl = _stack(memory, ga_crd=False)
    assert kubectl.find(resources.alpha_pool, ALPHA_RELEASE, "default", "read the alpha pool") is not None
    assert kubectl.find(resources.ga_pool, f"{ALPHA_RELEASE}-ga", "default", "read the GA pool") is None
    ga, alpha = "inferencepools.v1.inference.networking.k8s.io", "inferencepools.v1alpha2.inference.networking.x-k8s.io"
    assert [(ga in call, alpha in call) for call in _gets(kubectl)] == [(True, True), (False, True)]
    kubectl.apply((FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml").read_text(), "apply the CRDs")
    kubectl.find(resources.route, "llm-route", "default", "read the route")
    assert ga in _gets(kubectl)[-1] and len(_gets(kubectl)) == 3, "read together again, at once"
    crds = [{"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": name}}
            for name in api().cluster.alpha_crd_names]  # fmt: skip
    kubectl.delete_listed(crds, "delete the alpha CRDs")
    with pytest.raises(NotFound, match='^list the models: the server doesn\'t have a resource type "inferencemodels"'):
        kubectl.get([resources.alpha_model], "list the models", "default")  # the server says so: read on its own
    kubectl.find(resources.route, "llm-route", "default", "read the route")
    assert len(_gets(kubectl)) == 5 and "inferencemodels" not in _gets(kubectl)[-1], "left out, no failed call"


@pytest.mark.parametrize(
    "message, wanted, lacked",
    [
        # kubectl names the first kind it lacks by its plural; both pools share it
        ('the server doesn\'t have a resource type "inferencepools"',
         ["route", "alpha_model", "ga_pool", "alpha_pool"], ["ga_pool"]),  # the alpha models resolved: the GA one
        ('the server doesn\'t have a resource type "inferencemodels"',
         ["route", "alpha_model", "ga_pool", "alpha_pool"], ["alpha_model", "alpha_pool"]),  # the alpha CRDs go together
        ('the server doesn\'t have a resource type "inferencepools"', ["route", "ga_pool", "alpha_pool"], ["ga_pool"]),
        ('the server doesn\'t have a resource type "inferencepools"', ["route", "alpha_pool"], ["alpha_pool"]),
        ('the server doesn\'t have a resource type "gatewayclasses"', ["route", "gateway_class"], ["gateway_class"]),
        ('the server doesn\'t have a resource type "widgets"', ["route", "ga_pool"], []),  # not ours: the error stands
        ("the connection to the server was refused", ["route"], []),
    ],
)  # fmt: skip
def test_which_kinds_a_failed_read_together_lacked(message, wanted, lacked):
    assert kube._lacked(message, wanted) == lacked

"""Each rewrite of postrender/rewrites/, in process, on a few documents: what it changes, what it keeps byte for
byte, and what it records. Truth from outside: the v1 CRD schema, upstream's chart (port names, flags) and the
guide's RBAC."""

import pytest
from conftest import docs

from infgw_postrender.errors import InputError
from infgw_postrender.postrender.index import Index
from infgw_postrender.postrender.report import Report
from infgw_postrender.postrender.rewrites import Job, alpha_names
from infgw_postrender.postrender.rewrites.epp import update_epp_flags
from infgw_postrender.postrender.rewrites.names import avoid_alpha_names, rename_pool
from infgw_postrender.postrender.rewrites.pool_api import convert_alpha_pool
from infgw_postrender.postrender.rewrites.rbac import grant_ga_pools
from infgw_postrender.postrender.rewrites.references import follow_pool_references
from infgw_postrender.postrender.stream import join, split

ALPHA_POOL = """---
# Source: inferencepool/templates/inferencepool.yaml
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata:
  name: vllm
  namespace: default
  labels:
    app.kubernetes.io/version: "0.0.0"
spec:
  targetPortNumber: 8000
  selector:
    app: "vllm"
  extensionRef:
    name: vllm-epp
"""
EPP_SERVICE = """---
apiVersion: v1
kind: Service
metadata:
  name: vllm-epp
  namespace: default
spec:
  ports:
    - name: http-metrics
      port: 9090
    - name: grpc-ext-proc
      port: 9003
"""


def job(text: str, new_pool: str | None = None, alpha_pool: str | None = None) -> Job:
    index = Index(split(text), Report())
    group = index.groups[0]
    index.plan({group.document.index: new_pool} if new_pool else {})
    taken = alpha_names(index, group, alpha_pool, None) if alpha_pool else frozenset()
    return Job(index, group, alpha_pool, taken)


def entry(job: Job, kind: str):
    return next(e for e in job.index.report.entries if e.kind == kind)


def test_alpha_pool_becomes_a_valid_v1_pool_with_the_epp_services_grpc_port(schemas):
    done = job(ALPHA_POOL + EPP_SERVICE)
    convert_alpha_pool(done)
    text = join(done.index.documents)
    pool = docs(text)[0]
    schemas.validate(pool)  # the v1 CRD's schema and CEL rules (a Service reference needs a port)
    # the chart's EPP Service names its gRPC port grpc-ext-proc (templates/epp-service.yaml); that port, not 9002
    assert pool["spec"]["endpointPickerRef"] == {"name": "vllm-epp", "port": {"number": 9003}}
    assert pool["spec"]["selector"] == {"matchLabels": {"app": "vllm"}}
    # only spec and apiVersion were written again: the metadata lines are the chart's, quotes included
    assert '    app.kubernetes.io/version: "0.0.0"\n' in text and '      app: "vllm"\n' in text
    assert entry(done, "InferencePool").assumed == (
        "endpointPickerRef.port.number 9003 (the EPP Service's gRPC port): v1alpha2 extensionRef had no portNumber "
        "and the v1 CRD requires a port for a Service",
    )


@pytest.mark.parametrize(
    "spec", ["spec: [a]", "spec:\n  ports: {}", "spec:\n  ports:\n  - 9003", "spec:\n  ports:\n  - port: x"]
)
def test_an_epp_service_written_otherwise_gives_the_pool_the_charts_port_and_says_so(spec, schemas):
    """A mangled EPP Service is the API server's to refuse (a Service's spec is a mapping, its ports a list of
    mappings with an int port); the pool converts with the chart's port 9002, as if the Service named none, and the
    report says it assumed so (this was a traceback, found by the fuzzing)."""
    service = EPP_SERVICE[: EPP_SERVICE.index("spec:")] + spec + "\n"
    done = job(ALPHA_POOL + service)
    convert_alpha_pool(done)
    pool = docs(join(done.index.documents))[0]
    schemas.validate(pool)
    assert pool["spec"]["endpointPickerRef"] == {"name": "vllm-epp", "port": {"number": 9002}}
    assert "the chart's EPP port" in entry(done, "InferencePool").assumed[0]


def test_a_comment_in_the_rewritten_block_is_kept_by_the_round_trip():
    commented = ALPHA_POOL.replace('    app: "vllm"\n', '    app: "vllm"  # the model servers\n')
    done = job(commented + EPP_SERVICE)
    convert_alpha_pool(done)
    text = join(done.index.documents)
    assert '      app: "vllm" # the model servers\n' in text  # ruamel.yaml's round trip, one space before #
    assert docs(text)[0]["spec"]["selector"] == {"matchLabels": {"app": "vllm"}}


def test_a_pool_without_extension_ref_name_is_refused_naming_the_document():
    with pytest.raises(InputError, match=r"InferencePool vllm has no spec.extensionRef.name"):
        convert_alpha_pool(job(ALPHA_POOL.replace("  extensionRef:\n    name: vllm-epp\n", "")))


POLICY = """---
kind: HealthCheckPolicy
apiVersion: networking.gke.io/v1
metadata:
  name: vllm
  namespace: default
spec:
  targetRef:
    group: "inference.networking.x-k8s.io"
    kind: InferencePool
    name: vllm
  default:
    config:
      httpHealthCheck:
          port:  8000
"""


def test_renamed_pool_keeps_its_release_and_named_objects_follow():
    done = job(ALPHA_POOL + EPP_SERVICE + POLICY, new_pool="vllm-ga")
    rename_pool(done)
    pool, _, policy = docs(join(done.index.documents))
    assert pool["metadata"]["name"] == "vllm-ga"
    # a later run must read {release} as the same Helm release
    assert pool["metadata"]["annotations"] == {"infgw-migrate.io/release": "vllm"}
    assert policy["metadata"]["name"] == "vllm-ga"  # the chart names it after the pool (templates/gke.yaml)


def test_a_name_the_alpha_release_has_is_kept_for_a_named_object_and_reported():
    done = job(ALPHA_POOL + EPP_SERVICE + POLICY, new_pool="vllm-alpha", alpha_pool="vllm-alpha")
    rename_pool(done)
    policy = docs(join(done.index.documents))[2]
    assert policy["metadata"]["name"] == "vllm"
    assert entry(done, "HealthCheckPolicy").assumed == (
        "kept the name vllm: the alpha release has a HealthCheckPolicy vllm-alpha",
    )


def test_objects_that_would_take_an_alpha_objects_name_are_renamed_with_their_referrers():
    # both releases render their EPP Service as <release>-epp: a GA release named like the alpha one would clash
    done = job(ALPHA_POOL + EPP_SERVICE, alpha_pool="vllm")
    avoid_alpha_names(done)
    pool, service = docs(join(done.index.documents))
    assert service["metadata"]["name"] != "vllm-epp"
    assert pool["spec"]["extensionRef"]["name"] == service["metadata"]["name"]


def test_a_pool_renamed_after_the_chart_still_keeps_its_epp_apart_from_the_alpha_one():
    # A kustomize patch renamed the pool; its EPP keeps the chart's name <release>-epp (templates/_helpers.tpl at
    # every tag), which is the alpha release vllm's EPP name too. Found by the hostile-input fuzzing.
    patched = ALPHA_POOL.replace("  name: vllm\n", "  name: vllm-patched\n", 1)
    done = job(patched + EPP_SERVICE + POLICY, new_pool="vllm", alpha_pool="vllm")
    rename_pool(done)
    avoid_alpha_names(done)
    pool, service, policy = docs(join(done.index.documents))
    assert service["metadata"]["name"] != "vllm-epp"
    assert pool["spec"]["extensionRef"]["name"] == service["metadata"]["name"]
    # named after the pool's new name, the policy is the release's: the alpha release has one so named
    assert policy["metadata"]["name"] != "vllm"


def test_references_name_the_ga_group_and_the_final_pool_name():
    done = job(ALPHA_POOL + POLICY, new_pool="vllm-ga")
    rename_pool(done)
    follow_pool_references(done)
    text = join(done.index.documents)
    assert docs(text)[1]["spec"]["targetRef"] == {
        "group": "inference.networking.k8s.io",
        "kind": "InferencePool",
        "name": "vllm-ga",
    }
    assert "          port:  8000\n" in text  # untouched lines stay as the chart wrote them


def epp_deployment(image: str, args: str) -> str:
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: vllm-epp
spec:
  template:
    spec:
      containers:
      - name: epp
        image: {image}
        args:
{args}"""


def test_epp_flags_name_the_final_pool_and_the_ga_group():
    args = "        - --pool-name\n        - vllm\n        - --pool-group=inference.networking.x-k8s.io\n"
    done = job(
        ALPHA_POOL + epp_deployment("registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0", args),
        new_pool="vllm-ga",
    )
    update_epp_flags(done)
    container = docs(join(done.index.documents))[1]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["--pool-name", "vllm-ga", "--pool-group=inference.networking.k8s.io"]


@pytest.mark.parametrize("anchored", [False, True], ids=["read off the text", "round-tripped (an anchor)"])
def test_epp_flags_already_right_are_not_reported_updated(anchored):
    """Nothing to change, nothing said, however the Deployment is read: an anchor sends it through ruamel.yaml,
    whose quoted string is the str it holds (it was reported `updated` to the value it had; found by the
    fuzzing of tests/postrender/test_hostile_input.py)."""
    args = '        - --pool-name\n        - vllm\n        - --pool-group\n        - "inference.networking.k8s.io"\n'
    deployment = epp_deployment("registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0", args)
    if anchored:
        deployment = deployment.replace("  name: vllm-epp\n", "  name: &name vllm-epp\n")
    done = job(ALPHA_POOL + deployment)
    before = join(done.index.documents)
    update_epp_flags(done)
    assert [e.kind for e in done.index.report.entries if e.actions] == []
    assert docs(join(done.index.documents)) == docs(before)


def test_an_epp_too_old_for_v1_pools_is_refused():
    # v0.3.0's EPP takes single-dash flags and watches only v1alpha2 pools
    done = job(
        ALPHA_POOL
        + epp_deployment(
            "registry.k8s.io/gateway-api-inference-extension/epp:v0.3.0", "        - -poolName\n        - vllm\n"
        )
    )
    with pytest.raises(InputError, match=r"predates v1.0.0 \(single-dash flags -poolName\)"):
        update_epp_flags(done)


ROLE = """---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: vllm-epp
rules:
- apiGroups: ["inference.networking.x-k8s.io"]
  resources: ["inferenceobjectives", "inferencepools"]
  verbs: ["get", "watch", "list"]
"""


def test_the_epp_role_is_granted_ga_pools_and_its_rules_keep_their_text():
    done = job(ALPHA_POOL + ROLE)
    grant_ga_pools(done)
    text = join(done.index.documents)
    rules = docs(text)[1]["rules"]
    assert rules[-1] == {
        "apiGroups": ["inference.networking.k8s.io"],
        "resources": ["inferencepools"],
        "verbs": ["get", "watch", "list"],
    }
    assert '  resources: ["inferenceobjectives", "inferencepools"]\n' in text
    grant_ga_pools(job(text))  # a second run finds the grant


def test_a_wildcard_rule_already_grants_ga_pools():
    wildcard = ROLE.replace('verbs: ["get", "watch", "list"]', 'verbs: ["*"]').replace(
        '["inference.networking.x-k8s.io"]', '["inference.networking.x-k8s.io", "inference.networking.k8s.io"]'
    )
    done = job(ALPHA_POOL + wildcard)
    grant_ga_pools(done)
    assert join(done.index.documents) == ALPHA_POOL + wildcard

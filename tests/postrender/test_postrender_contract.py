"""What a user of the post-renderer relies on: errors are one line with exit status 2 and nothing on stdout;
untouched documents pass through byte for byte; a second run changes nothing; the report says per object
what happened."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import ALPHA_GROUP, FIXTURES, GA_GROUP, REPO, docs, run_postrender

MODELS = str(FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml")
ROUTE = str(FIXTURES / "objects" / "v0.3.0-gke-httproute.yaml")


@pytest.fixture(scope="module")
def alpha_stream(helm3) -> str:
    """The v1.0.0 chart rendered for the alpha API, with GKE policies: the guide's GA install, as text."""
    return helm3.template(
        "vllm-ga",
        "inferencepool-v1.0.0",
        "--set",
        "provider.name=gke",
        "--set",
        f"inferencePool.apiVersion={ALPHA_GROUP}/v1alpha2",
    )


def split_raw(text: str) -> list[str]:
    return text.split("\n---\n")


@pytest.mark.parametrize(
    "args, stdin, needle",
    [
        (["--ga-weight", "150", "--alpha-pool", "vllm"], None, "--ga-weight 150"),
        (["--ga-weight", "-1", "--alpha-pool", "vllm"], None, "--ga-weight -1"),
        (["--objective", "food-review=x"], None, "priority 'x'"),
        (["--pool-name", "Not_A_Label"], None, "DNS-1123"),
        (["--pool-name", "a\nb"], None, "DNS-1123"),
        (["--gateway", "gw/Bad"], None, "--gateway namespace"),
        (["--priority-map", "Urgent=5"], None, "unknown criticality"),
        (["--ga-weight", "ten", "--alpha-pool", "vllm"], None, "--ga-weight"),
        (["--ga-weight", "10"], None, "needs --alpha-pool"),
        (["--objectives-from", "/nonexistent.yaml"], None, "/nonexistent.yaml"),
        (["--route-from", MODELS, "--alpha-pool", "vllm", "--ga-weight", "10"], None, "HTTPRoute"),
        (
            ["--alpha-pool", "vllm", "--ga-weight", "50"],
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
            "no InferencePool",
        ),
        (
            [],
            "---\n# Source: chart/templates/a.yaml\napiVersion: inference.networking.x-k8s.io/v1alpha2\n"
            "kind: InferencePool\nmetadata: {name: [c\n",
            "document 1 (chart/templates/a.yaml): malformed YAML",
        ),
        (
            [],
            "---\n# Source: chart/templates/c.yaml\nmetadata: {name: c}\n",
            "document 1 (chart/templates/c.yaml): not a Kubernetes",
        ),
        (
            [],
            "---\n# Source: chart/templates/b.yaml\n- a\n- list\n",
            "document 1 (chart/templates/b.yaml): not a Kubernetes object",
        ),
        ([], "---\napiVersion: v1\nkind: InferencePool\nmetadata:\n  name: a\n  name: b\n", "duplicate key"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_on_stdout(alpha_stream, args, stdin, needle):
    done = run_postrender(alpha_stream if stdin is None else stdin, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_two_pools_need_release_to_pick_one(helm3):
    both = helm3.template("pool-a", "inferencepool-v1.0.0") + "\n" + helm3.template("pool-b", "inferencepool-v1.0.0")
    done = run_postrender(both, "--pool-name", "renamed")
    assert done.returncode == 2 and "--release" in done.stderr
    done = run_postrender(both, "--pool-name", "renamed", "--release", "pool-b")
    assert done.returncode == 0, done.stderr
    names = sorted(o["metadata"]["name"] for o in docs(done.stdout) if o["kind"] == "InferencePool")
    assert names == ["pool-a", "renamed"]


def test_untouched_documents_pass_through_byte_for_byte(alpha_stream, tmp_path):
    report = tmp_path / "report.json"
    done = run_postrender(alpha_stream, "--report", str(report))
    assert done.returncode == 0, done.stderr
    reported = {(o["kind"], o["name"]) for o in json.loads(report.read_text())["objects"]}
    before, after = split_raw(alpha_stream), split_raw(done.stdout)
    assert len(before) == len(after)
    untouched = 0
    for original, result in zip(before, after, strict=True):
        obj = docs(original)
        if obj and (obj[0]["kind"], obj[0]["metadata"]["name"]) in reported:
            continue
        assert result == original  # comments, quoting, key order and `# Source:` lines kept
        untouched += 1
    assert untouched >= 6


@pytest.mark.parametrize(
    "flags",
    [
        [],
        [
            "--pool-name",
            "vllm",
            "--alpha-pool",
            "vllm-llama3-8b-instruct",
            "--ga-weight",
            "50",
            "--objectives-from",
            MODELS,
        ],
        [
            "--alpha-pool",
            "vllm-llama3-8b-instruct",
            "--ga-weight",
            "30",
            "--route-from",
            ROUTE,
            "--target-version",
            "v1.2.0",
            "--objectives-from",
            MODELS,
        ],
    ],
)
def test_idempotent_and_deterministic(alpha_stream, flags):
    once = run_postrender(alpha_stream, *flags)
    again = run_postrender(alpha_stream, *flags)
    twice = run_postrender(once.stdout, *flags)
    assert once.returncode == again.returncode == twice.returncode == 0, once.stderr + twice.stderr
    assert once.stdout == again.stdout
    assert twice.stdout == once.stdout


def test_report_says_what_was_converted_assumed_and_lost(alpha_stream, tmp_path):
    report_path = tmp_path / "report.json"
    done = run_postrender(
        alpha_stream,
        "--alpha-pool",
        "vllm-llama3-8b-instruct",
        "--ga-weight",
        "50",
        "--objectives-from",
        MODELS,
        "--report",
        str(report_path),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    by_ref = {(o["kind"], o["name"]): o for o in report["objects"]}
    pool = by_ref[("InferencePool", "vllm-ga")]
    assert "converted" in pool["actions"]
    food = by_ref[("InferenceObjective", "food-review")]
    assert "generated" in food["actions"]
    assert any("Standard" in a and "priority 1" in a for a in food["assumed"])
    lost = {loss["what"].split()[0]: loss for loss in food["not_carried_over"]}
    assert "x-gateway-inference-objective" in lost["modelName"]["fix"]
    assert "v1.3.0" in lost["targetModels"]["fix"]  # the EPP acts on InferenceModelRewrite from v1.3.0
    assert report["summary"]["generated"] == 4  # three objectives and the route
    # The human summary on stderr names the same objects.
    assert "InferenceObjective default/food-review" in done.stderr


def test_a_pool_no_model_refers_to_is_an_error(alpha_stream, tmp_path):
    """Issue 11.2: a mistyped --alpha-pool with --objectives-from would give a release without objectives, and
    Helm 3 hides a successful post-renderer's notes: an error naming the pools the file refers to."""
    done = run_postrender(alpha_stream, "--alpha-pool", "another-pool", "--objectives-from", MODELS)
    assert done.returncode == 2 and done.stdout == ""
    assert "no InferenceModel refers to the alpha pool default/another-pool" in done.stderr
    assert "its models refer to default/vllm-llama3-8b-instruct" in done.stderr


def test_models_of_other_pools_are_skipped_and_said(alpha_stream, tmp_path):
    other = docs(open(MODELS).read())
    other[0]["spec"]["poolRef"]["name"] = "another-pool"
    path = tmp_path / "models.yaml"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": other}))
    report_path = tmp_path / "report.json"
    done = run_postrender(
        alpha_stream,
        "--alpha-pool",
        "vllm-llama3-8b-instruct",
        "--objectives-from",
        str(path),
        "--report",
        str(report_path),
    )
    assert done.returncode == 0, done.stderr
    names = {o["metadata"]["name"] for o in docs(done.stdout) if o["kind"] == "InferenceObjective"}
    assert other[0]["metadata"]["name"] not in names and len(names) == 2
    notes = json.loads(report_path.read_text())["notes"]
    assert any(other[0]["metadata"]["name"] in note and "another-pool" in note for note in notes)


def test_target_models_stay_reported_as_lost_before_v1_3_0(alpha_stream):
    """Issue 10.2: at GIE v1.2.0 the InferenceModelRewrite CRD exists in config/crd/bases but its EPP has no
    rewrite reconciler (pkg/epp/controller at v1.2.0; inferencemodelrewrite_reconciler.go first at v1.3.0), so
    targetModels stay reported as lost and no rewrite is written."""
    done = run_postrender(alpha_stream, "--objectives-from", MODELS, "--target-version", "v1.2.0")
    assert done.returncode == 0, done.stderr
    assert not [o for o in docs(done.stdout) if o["kind"] == "InferenceModelRewrite"]
    assert "targetModels" in done.stderr and "not carried over" in done.stderr


@pytest.mark.parametrize("release", ["v1.3.0", "v1.4.0", "v1.5.0"])
def test_target_models_become_a_rewrite_each_release_accepts(alpha_stream, schemas, release):
    """Issue 19.1: from GIE v1.3.0 a rule's weighted models are `targets` (commit a109e903;
    apix/v1alpha2/inferencemodelrewrite_types.go:95 `json:"targets,omitempty"` at v1.3.0, v1.4.0 and v1.5.0;
    line 90 `json:"split,omitempty"` at v1.2.0). The EPP picks from rule.Targets
    (pkg/epp/requestcontrol/director.go:208 at v1.3.0), and a rule without them gives the model ""
    (selectWeightedModel, director.go:212-214). Checked against that release's own bundle, strictly: a field
    the API server would prune (or refuse, with kubectl's strict validation) fails it."""
    done = run_postrender(alpha_stream, "--objectives-from", MODELS, "--target-version", release)
    assert done.returncode == 0, done.stderr
    rewrites = [o for o in docs(done.stdout) if o["kind"] == "InferenceModelRewrite"]
    assert [r["metadata"]["name"] for r in rewrites] == ["food-review"]
    assert rewrites[0]["apiVersion"] == f"{ALPHA_GROUP}/v1alpha2"
    schemas.validate(rewrites[0], release=release)
    rule = rewrites[0]["spec"]["rules"][0]
    assert rule["matches"] == [{"model": {"value": "food-review"}}]
    assert rule["targets"] == [{"modelRewrite": "food-review", "weight": 100}]
    # what the tool wrote before: the same rule with `split`, which this release's server prunes or refuses
    old = json.loads(json.dumps(rewrites[0]))
    old["spec"]["rules"][0]["split"] = old["spec"]["rules"][0].pop("targets")
    with pytest.raises(AssertionError, match=r"unknown fields \['spec.rules\[0\].split'\]"):
        schemas.validate(old, release=release)


def test_v1_6_0_refuses_objectives_and_says_where_they_went(alpha_stream):
    """Issue 19.2: GIE v1.6.0 deleted the InferenceObjective and InferenceModelRewrite APIs and CRDs (#2973) and its
    EPP and chart (#2967); its bundle holds only the v1 InferencePool and InferencePoolImport
    (fixtures/crds/inference-extension-v1.6.0-release-manifests.yaml). Objectives for it would be objects of a
    kind no server of that release serves: refused, with both ways out."""
    done = run_postrender(alpha_stream, "--objectives-from", MODELS, "--target-version", "v1.6.0")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "--target-version v1.6.0" in done.stderr and "target v1.5.0" in done.stderr
    assert "llm-d-router-gateway" in done.stderr
    kinds = {
        crd["spec"]["names"]["kind"]
        for crd in docs((FIXTURES / "crds" / "inference-extension-v1.6.0-release-manifests.yaml").read_text())
    }
    assert kinds == {"InferencePool", "InferencePoolImport"}
    # without objectives the pool converts for v1.6.0 as for any GA release
    plain = run_postrender(alpha_stream, "--target-version", "v1.6.0")
    assert plain.returncode == 0, plain.stderr
    assert [o["apiVersion"] for o in docs(plain.stdout) if o["kind"] == "InferencePool"] == [f"{GA_GROUP}/v1"]


def test_priority_map_overrides_the_default(alpha_stream):
    done = run_postrender(alpha_stream, "--objectives-from", MODELS, "--priority-map", "Critical=10,Standard=-2")
    priorities = {
        o["metadata"]["name"]: o["spec"]["priority"] for o in docs(done.stdout) if o["kind"] == "InferenceObjective"
    }
    assert priorities == {"food-review": -2, "base-model": 10, "base-model-cpu": 10}


@pytest.mark.parametrize(
    "weight, expected",
    [
        (0, [(ALPHA_GROUP, "vllm-llama3-8b-instruct", 100), (GA_GROUP, "vllm-ga", 0)]),
        (30, [(ALPHA_GROUP, "vllm-llama3-8b-instruct", 70), (GA_GROUP, "vllm-ga", 30)]),
        (100, [(GA_GROUP, "vllm-ga", 100)]),
    ],
)
def test_route_from_changes_only_the_alpha_backends(alpha_stream, schemas, weight, expected):
    original = docs(open(ROUTE).read())[0]
    done = run_postrender(
        alpha_stream, "--alpha-pool", "vllm-llama3-8b-instruct", "--ga-weight", str(weight), "--route-from", ROUTE
    )
    assert done.returncode == 0, done.stderr
    (route,) = [o for o in docs(done.stdout) if o["kind"] == "HTTPRoute"]
    schemas.validate(route)
    rule = route["spec"]["rules"][0]
    assert [(r["group"], r["name"], r["weight"]) for r in rule["backendRefs"]] == expected
    assert rule["matches"] == original["spec"]["rules"][0]["matches"]
    assert route["spec"]["parentRefs"] == original["spec"]["parentRefs"]
    assert route["metadata"]["name"] == original["metadata"]["name"]


def test_route_from_a_cluster_keeps_other_backends_and_drops_server_fields(alpha_stream, tmp_path):
    live = docs(open(ROUTE).read())[0]
    live["metadata"].update(resourceVersion="42", uid="abc", generation=3, creationTimestamp="2025-01-01T00:00:00Z")
    live["status"] = {"parents": []}
    live["spec"]["rules"][0]["backendRefs"].append({"name": "fallback", "port": 80, "weight": 1})
    live["spec"]["rules"].append(
        {
            "backendRefs": [{"name": "static", "port": 8080}],
            "matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
        }
    )
    path = tmp_path / "route.yaml"
    path.write_text(json.dumps(live))
    done = run_postrender(
        alpha_stream, "--alpha-pool", "vllm-llama3-8b-instruct", "--ga-weight", "50", "--route-from", str(path)
    )
    assert done.returncode == 0, done.stderr
    (route,) = [o for o in docs(done.stdout) if o["kind"] == "HTTPRoute"]
    assert "status" not in route and not {"resourceVersion", "uid", "generation", "creationTimestamp"} & set(
        route["metadata"]
    )
    # issue 10.5: the pools keep their share (1 of 2) against the fallback, and split it 50:50
    refs = route["spec"]["rules"][0]["backendRefs"]
    fallback = next(r for r in refs if r["name"] == "fallback")
    pools = [r for r in refs if r.get("kind") == "InferencePool"]
    assert [r["weight"] for r in pools] == [fallback["weight"] // 2] * 2 and fallback["port"] == 80
    assert route["spec"]["rules"][1] == live["spec"]["rules"][1]


def test_models_match_the_alpha_pool_by_namespace_too(alpha_stream, tmp_path):
    """Issue 10.6: a poolRef names a pool of the model's own namespace; team-b's `vllm-llama3-8b-instruct` is
    not default's."""
    models = docs(open(MODELS).read())
    for model in models:
        model["metadata"]["namespace"] = "team-b"
    path = tmp_path / "team-b-models.yaml"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": models}))
    done = run_postrender(alpha_stream, "--alpha-pool", "vllm-llama3-8b-instruct", "--objectives-from", str(path))
    assert done.returncode == 2 and done.stdout == ""
    assert "no InferenceModel refers to the alpha pool default/vllm-llama3-8b-instruct" in done.stderr
    assert "its models refer to team-b/vllm-llama3-8b-instruct" in done.stderr
    again = run_postrender(
        alpha_stream,
        "--alpha-pool",
        "vllm-llama3-8b-instruct",
        "--alpha-namespace",
        "team-b",
        "--objectives-from",
        str(path),
    )
    assert {o["metadata"]["name"] for o in docs(again.stdout) if o["kind"] == "InferenceObjective"} == {
        "food-review",
        "base-model",
        "base-model-cpu",
    }


def test_the_cel_rules_are_checked_as_the_api_server_checks_them(schemas):
    """The schema check runs the CRDs' CEL rules: a Service backend without a port is refused, as by the API
    server, and a v1 pool whose EPP Service has no port too."""
    route = docs(open(ROUTE).read())[0]
    route["spec"]["rules"][0]["backendRefs"].append({"name": "fallback"})
    with pytest.raises(AssertionError, match="Must have port for Service reference"):
        schemas.validate(route)
    pool = {
        "apiVersion": f"{GA_GROUP}/v1",
        "kind": "InferencePool",
        "metadata": {"name": "p"},
        "spec": {
            "selector": {"matchLabels": {"app": "m"}},
            "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": "p-epp"},
        },
    }
    with pytest.raises(AssertionError, match="port is required when kind is 'Service'"):
        schemas.validate(pool)


def test_sheddable_becomes_a_negative_priority(alpha_stream, tmp_path):
    """Issue 10.4: upstream's EPP sheds a request only when its priority is negative (sheddable.go, IsSheddable);
    Sheddable at 0 would never be shed."""
    path = tmp_path / "models.yaml"
    path.write_text(
        json.dumps(
            {
                "apiVersion": f"{ALPHA_GROUP}/v1alpha2",
                "kind": "InferenceModel",
                "metadata": {"name": "batch", "namespace": "default"},
                "spec": {
                    "modelName": "batch",
                    "criticality": "Sheddable",
                    "poolRef": {"name": "vllm-llama3-8b-instruct"},
                },
            }
        )
    )
    report_path = tmp_path / "report.json"
    done = run_postrender(
        alpha_stream,
        "--alpha-pool",
        "vllm-llama3-8b-instruct",
        "--objectives-from",
        str(path),
        "--report",
        str(report_path),
    )
    assert done.returncode == 0, done.stderr
    (objective,) = [o for o in docs(done.stdout) if o["kind"] == "InferenceObjective"]
    assert objective["spec"]["priority"] < 0
    entry = next(o for o in json.loads(report_path.read_text())["objects"] if o["name"] == "batch")
    assert any("sheds only a negative priority" in line for line in entry["assumed"])


def test_an_anchor_defined_again_puts_nothing_on_stderr():
    # YAML lets an anchor be defined again (the later one counts); ruamel.yaml warns of it, on stderr, where the
    # post-renderer's stderr is its summary or its one-line error
    stream = (REPO / "examples" / "vllm-ga-rendered.yaml").read_text()
    config_map = (
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: &a x\n  namespace: &a default\ndata:\n  k: *a\n"
    )
    policy = stream.replace("      type: HTTP\n", "      type: &t HTTP\n      also: &t HTTP\n      again: *t\n", 1)
    assert policy != stream
    with warnings.catch_warnings(record=True) as issued:  # a process shows what is issued on its stderr
        warnings.simplefilter("always")
        done = run_postrender(policy + config_map, "--alpha-pool", "vllm", "--ga-weight", "50", "--offline", "-q")
    assert (done.returncode, done.stderr, [str(warning.message) for warning in issued]) == (0, "", [])
    assert "kind: HTTPRoute" in done.stdout and config_map in done.stdout

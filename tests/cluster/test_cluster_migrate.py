"""`migrate`: the zero-downtime and simple paths run against the loopback cluster with the real kubectl and Helm;
an API failure at any step stops the run with the step's name, and the same command then finishes the job."""

from __future__ import annotations

import json
import shlex
import subprocess

import pytest
import yaml
from completions import Completions, server  # noqa: F401  (the completion server fixture)
from conftest import (
    ALPHA_GROUP,
    ALPHA_RELEASE,
    CHARTS,
    GA_GROUP,
    crd_mirror,
    live_alpha_stack,
    state_file,
    tool,
)
from prometheus import WINDOW, prometheus  # noqa: F401  (the Prometheus fixture)

GA_RELEASE = f"{ALPHA_RELEASE}-ga"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")


@pytest.fixture
def start(cluster, server, tmp_path):  # noqa: F811
    """The alpha stack live behind a programmed Gateway whose controller accepts what it is given."""
    return started(cluster, server, tmp_path)


def started(cluster, server, tmp_path):  # noqa: F811
    """`start`'s cluster, for a module whose `cluster` is another (test_cluster_faults)."""
    Completions.behaviour = "ok"
    live_alpha_stack(cluster)
    mirror = crd_mirror(tmp_path / "mirror")
    (tmp_path / "state").mkdir()
    cluster.args = [
        "--alpha-pool",
        ALPHA_RELEASE,
        "--chart",
        str(CHARTS / "inferencepool-v1.0.0"),
        "--set",
        f"inferencePool.modelServers.matchLabels.app={ALPHA_RELEASE}",
        "--crd-source",
        str(mirror),
        "--state-dir",
        str(tmp_path / "state"),
        "--verify-url",
        f"http://127.0.0.1:{server.server_address[1]}/v1/completions",
    ]
    cluster.state = tmp_path / "state"
    return cluster


def helm_status(cluster, release: str) -> int:
    return subprocess.run([tool("helm3"), "status", release], capture_output=True, env=cluster.env).returncode


def assert_zero_downtime_done(cluster) -> None:
    route = cluster.api.get(*ROUTE)
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (GA_GROUP, GA_RELEASE, 100)
    ]
    assert cluster.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_RELEASE) is not None
    objectives = {
        o["metadata"]["name"]: o["spec"] for o in cluster.api.all(f"{ALPHA_GROUP}/v1alpha2", "InferenceObjective")
    }
    assert set(objectives) == {"food-review", "base-model", "base-model-cpu"}
    assert all(spec["poolRef"] == {"group": GA_GROUP, "name": GA_RELEASE} for spec in objectives.values())
    assert cluster.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE) is None
    assert helm_status(cluster, ALPHA_RELEASE) != 0 and helm_status(cluster, GA_RELEASE) == 0
    backup = state_file(cluster, "backup")
    saved = yaml.safe_load(backup.read_text())["items"]
    assert {"InferencePool", "InferenceModel", "HTTPRoute"} <= {o["kind"] for o in saved}
    assert backup.stat().st_mode & 0o777 == 0o600, "the backup holds Helm's release Secrets"


def test_zero_downtime_stops_before_traffic_unless_told(start):
    """Issue 20.5: stopped on purpose, with an exit status of its own (5) and the exact command that goes on."""
    done = start.migrate("migrate", "--path", "zero-downtime", *start.args)
    assert done.returncode == 5, done.stderr
    assert "stopped before step 5: send 0% of llm-route to the GA pool" in done.stderr
    assert helm_status(start, GA_RELEASE) == 0, "the GA release is installed beside the alpha one"
    assert helm_status(start, ALPHA_RELEASE) == 0
    assert [b["group"] for b in start.api.get(*ROUTE)["spec"]["rules"][0]["backendRefs"]] == [ALPHA_GROUP]
    go_on = done.stderr.strip().splitlines()[-1].split("to go on: ", 1)[1]
    assert go_on.startswith("infgw-migrate migrate --path zero-downtime ") and go_on.endswith("--stages 0,50,100")
    again = start.migrate(*shlex.split(go_on)[1:])
    assert again.returncode == 0, again.stderr
    assert_zero_downtime_done(start)


def test_zero_downtime_walks_the_stages_to_the_end(start):
    done = start.migrate("migrate", "--path", "zero-downtime", "--stages", "0,50,100", *start.args)
    assert done.returncode == 0, done.stderr
    assert "all steps done" in done.stderr
    assert_zero_downtime_done(start)
    # issue 9.1: the same command again must not move traffic back to the (deleted) alpha pool
    before = len(start.api.requests)
    again = start.migrate("migrate", "--path", "zero-downtime", "--stages", "0,50,100", *start.args)
    assert again.returncode == 0, again.stderr
    assert "done already: send 0% of llm-route" in again.stderr and "done already: send 100%" in again.stderr
    assert not [r for r in start.api.requests[before:] if r[0] != "GET" and "httproutes" in r[1]], (
        "the route was written"
    )
    assert_zero_downtime_done(start)


def test_simple_path_takes_over_the_release_name(start):
    done = start.migrate("migrate", "--path", "simple", *start.args)
    assert done.returncode == 0, done.stderr
    pool = start.api.get(f"{GA_GROUP}/v1", "InferencePool", ALPHA_RELEASE)
    assert pool is not None, "the GA pool has the alpha pool's name"
    assert start.api.get(f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE) is None
    route = start.api.get(*ROUTE)
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (GA_GROUP, ALPHA_RELEASE, 100)
    ]
    assert (state_file(start, "backup")).exists()


def test_zero_downtime_with_the_llm_d_router_chart(start):
    """Issue 19.4: with llm-d-router's chart (the successor of GIE's inferencepool chart, whose values live under
    `router.*`: a top-level `inferencePool` makes the chart fail), the selector and port go under router.*, the
    CRD step installs the v1 pool of GIE v1.6.0 and llm-d-router's llm-d.ai CRDs, and the objectives land in
    llm-d.ai, the group its EPP reads (llm-d/llm-d-router v0.10.0 pkg/epp/server/controller_config.go:78)."""
    crd_mirror(start.state.parent / "mirror", "llm-d-router/v0.10.0")  # the mirror --crd-source names
    args = [arg for arg in start.args if not arg.startswith("inferencePool.") and arg != "--set"]
    args[args.index("--chart") + 1] = str(CHARTS / "llm-d-router-gateway-v0.10.0")
    plan = start.migrate("plan", "--path", "zero-downtime", "--stages", "0,100", *args)
    assert plan.returncode == 0, plan.stderr
    assert f"router.modelServers.matchLabels.app={ALPHA_RELEASE}" in plan.stdout
    assert "router.modelServers.targetPorts[0].number=8000" in plan.stdout
    assert "--target-version llm-d-router/v0.10.0" in plan.stdout and "inferencePool." not in plan.stdout
    done = start.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", *args)
    assert done.returncode == 0, done.stderr
    objectives = start.api.all("llm-d.ai/v1alpha2", "InferenceObjective")
    assert {o["metadata"]["name"] for o in objectives} == {"food-review", "base-model", "base-model-cpu"}
    assert all(o["spec"]["poolRef"] == {"group": GA_GROUP, "name": GA_RELEASE} for o in objectives)
    (rewrite,) = start.api.all("llm-d.ai/v1alpha2", "InferenceModelRewrite")
    assert rewrite["spec"]["rules"][0]["targets"] == [{"modelRewrite": "food-review", "weight": 100}]
    route = start.api.get(*ROUTE)
    assert [(b["group"], b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        (GA_GROUP, GA_RELEASE, 100)
    ]
    listed = subprocess.run([tool("helm3"), "list", "-o", "json"], capture_output=True, text=True, env=start.env).stdout
    assert '"chart":"llm-d-router-gateway-0.0.0"' in listed.replace(" ", "")


def test_simple_path_run_again_is_a_no_op(start):
    """Issue 20.1: once the simple path has removed the alpha stack (its outage), the same command is the user's
    only way out: it goes on from the cluster and the run's own state, and after a finished run changes nothing."""
    args = ["migrate", "--path", "simple", *start.args]
    assert start.migrate(*args).returncode == 0
    before = len(start.api.requests)
    again = start.migrate(*args)
    assert again.returncode == 0, again.stderr
    # issue 31.3: the access review comes before anything is read, so a finished run asks it too (answered, never
    # stored); nothing else but reads
    asked = [request for request in start.api.requests[before:] if request[0] != "GET"]
    assert {path for _, path in asked} == {"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"}, asked
    assert start.api.writes(before) == []
    assert "all steps done" in again.stderr


def test_detect_after_a_finished_migration_and_after_a_restore(start):
    """Issue 20.5: after a finished migration detect says so (not "install the v1 API directly"); after a restore
    of the alpha stack beside the GA one it recommends the path that goes on from the cluster."""
    assert start.migrate("migrate", "--path", "zero-downtime", "--stages", "0,100", *start.args).returncode == 0
    after = json.loads(start.migrate("detect", "-o", "json").stdout)
    assert after["migration_needed"] is False and "a finished migration" in after["verdict"]
    backup = next(start.state.glob("*.backup.yaml"))
    assert start.migrate("restore", str(backup)).returncode == 0
    restored = json.loads(start.migrate("detect", "-o", "json").stdout)
    assert restored["migration_needed"] and restored["recommended_path"] == "zero-downtime", restored["verdict"]


def test_migrate_json_is_one_record_a_line_for_pipelines(start):
    """Issue 23.4: `migrate -o json` prints one JSON object a line: each step's start and end (with its exit
    status), each traffic stage's weights as the route has them after it; a run again says what is done already."""
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,50,100", *start.args, "-o", "json"]
    done = start.migrate(*args)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    ends = {r["key"]: r for r in records if r["event"] == "end"}
    assert all(r["exit"] == 0 for r in ends.values())
    assert [ends[f"stage-{w}"]["ga_weight"] for w in (0, 50, 100)] == [0, 50, 100]
    assert [r["event"] for r in records if r["key"] == "ga-release"] == ["start", "end"]
    again = [json.loads(line) for line in start.migrate(*args).stdout.splitlines()]
    assert {r["key"] for r in again if r["event"] == "done-already"} >= {
        "crds",
        "ga-release",
        "stage-100",
        "remove-alpha",
    }


def test_migrate_json_carries_each_stage_s_analysis(start, prometheus):  # noqa: F811
    """Issue 23.4: a stage judged from the EPPs' metrics ends with its figures and verdict in its record; one that
    fails them ends with exit 1, the route back where the stage started, and the figure that failed."""
    args = ["migrate", "--path", "zero-downtime", "--stages", "0,50", *start.args, "-o", "json",
            "--metrics-url", prometheus.url, "--ga-selector", "job=ga-errors", "--window", WINDOW]  # fmt: skip
    done = start.migrate(*args)
    assert done.returncode == 1, done.stderr
    ends = {r["key"]: r for r in map(json.loads, done.stdout.splitlines()) if r["event"] == "end"}
    assert ends["stage-0"]["analysis"] is None, "no traffic at 0%: nothing to judge"
    failed = ends["stage-50"]
    assert (failed["exit"], failed["ga_weight"]) == (1, 0)
    assert failed["analysis"]["weight"] == 50 and failed["analysis"]["passed"] is False
    ratio = next(check for check in failed["analysis"]["metrics"] if check["name"] == "GA error ratio")
    assert round(ratio["value"], 6) == 0.05 and ratio["threshold"] == "<= 0.01"  # the exporter's 5%

"""`cleanup` and `restore`: nothing is deleted while traffic can reach the alpha pool, or without a backup on
disk first; a backup restores the same objects."""

from __future__ import annotations

import subprocess

import pytest
import yaml
from conftest import (
    ALPHA_GROUP,
    ALPHA_RELEASE,
    FIXTURES,
    GA_GROUP,
    accept,
    ga_pool,
    install_alpha_stack,
    put_serving,
    tool,
)

GA_POOL = f"{ALPHA_RELEASE}-ga"
ALPHA_POOL = (f"{ALPHA_GROUP}/v1alpha2", "InferencePool", ALPHA_RELEASE)
MODEL = f"{ALPHA_GROUP}/v1alpha2"
CLEANUP = ["cleanup", "--alpha-pool", ALPHA_RELEASE, "--ga-pool", GA_POOL]


@pytest.fixture
def migrated(cluster):
    """Alpha stack installed, GA pool accepted, and the route already at GA weight 100."""
    install_alpha_stack(cluster)
    cluster.api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    put_serving(cluster.api, accept(ga_pool(GA_POOL)))
    route = cluster.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    route["spec"]["rules"][0]["backendRefs"] = [
        {"group": GA_GROUP, "kind": "InferencePool", "name": GA_POOL, "weight": 100}
    ]
    return cluster


def helm_status(cluster) -> int:
    return subprocess.run([tool("helm3"), "status", ALPHA_RELEASE], capture_output=True, env=cluster.env).returncode


def test_refused_while_a_route_sends_traffic_to_the_alpha_pool(migrated, tmp_path):
    route = migrated.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", "llm-route")
    route["spec"]["rules"][0]["backendRefs"].insert(
        0, {"group": ALPHA_GROUP, "kind": "InferencePool", "name": ALPHA_RELEASE, "weight": 0}
    )
    before = len(migrated.api.requests)
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "backup.yaml"))
    assert done.returncode == 3
    assert "HTTPRoute default/llm-route still routes to the alpha pool" in done.stderr
    assert not (tmp_path / "backup.yaml").exists()
    assert not [r for r in migrated.api.requests[before:] if r[0] != "GET"]
    assert migrated.api.get(*ALPHA_POOL) is not None and helm_status(migrated) == 0


def test_refused_while_the_ga_pool_is_not_serving(migrated, tmp_path):
    migrated.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_POOL).pop("status")
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "backup.yaml"))
    assert done.returncode == 3 and "is not accepted by any Gateway" in done.stderr
    assert not (tmp_path / "backup.yaml").exists() and migrated.api.get(*ALPHA_POOL) is not None


def test_dry_run_lists_and_changes_nothing(migrated, tmp_path):
    before = len(migrated.api.requests)
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "backup.yaml"), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"would helm uninstall {ALPHA_RELEASE} -n default" in done.stdout
    assert "would delete InferenceModel default/food-review" in done.stdout
    assert not (tmp_path / "backup.yaml").exists()
    assert not [r for r in migrated.api.requests[before:] if r[0] != "GET"]


def test_no_backup_no_deletion(migrated, tmp_path):
    (tmp_path / "a-file").write_text("")
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "a-file" / "backup.yaml"))
    assert done.returncode == 2 and "nothing was changed in the cluster" in done.stderr
    assert migrated.api.get(*ALPHA_POOL) is not None and helm_status(migrated) == 0


def test_cleanup_then_restore_gives_back_the_same_objects(migrated, tmp_path):
    backup = tmp_path / "backup.yaml"
    # what the alpha release owns (Helm's own view of it, and its release records), and the models made by hand
    manifest = subprocess.run(
        [tool("helm3"), "get", "manifest", ALPHA_RELEASE], capture_output=True, text=True, env=migrated.env, check=True
    ).stdout
    owned = [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in yaml.safe_load_all(manifest) if o]
    records = [o for o in migrated.api.all("v1", "Secret") if o["metadata"].get("labels", {}).get("owner") == "helm"]
    originals = {
        (o["kind"], o["metadata"]["name"]): o
        for o in [*(migrated.api.get(*key) for key in owned), *records, *migrated.api.all(MODEL, "InferenceModel")]
    }
    assert len(originals) == len(owned) + len(records) + 3
    done = migrated.migrate(*CLEANUP, "--backup", str(backup))
    assert done.returncode == 0, done.stderr
    saved = yaml.safe_load(backup.read_text())["items"]
    assert {(o["kind"], o["metadata"]["name"]) for o in saved} == set(originals)
    assert helm_status(migrated) != 0, "the alpha Helm release is uninstalled"
    assert migrated.api.get(*ALPHA_POOL) is None and migrated.api.all(MODEL, "InferenceModel") == []
    assert migrated.api.get(f"{GA_GROUP}/v1", "InferencePool", GA_POOL) is not None, "the GA pool stays"

    restored = migrated.migrate("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    for (kind, name), original in originals.items():
        api_version = original["apiVersion"]
        back = migrated.api.get(api_version, kind, name)
        assert back is not None, f"{kind} {name} not restored"
        for part in ("spec", "data", "rules", "subjects", "roleRef"):
            assert back.get(part) == original.get(part), f"{kind} {name}: {part}"
        assert back["metadata"].get("labels") == original["metadata"].get("labels")
    assert helm_status(migrated) == 0, "with its records back, Helm knows the alpha release again"
    again = migrated.migrate("restore", str(backup))
    assert again.returncode == 0 and "already there" in again.stdout


def test_crds_are_deleted_only_when_no_alpha_object_is_left(migrated, tmp_path):
    migrated.api.put(
        {
            "apiVersion": MODEL,
            "kind": "InferenceModel",
            "metadata": {"name": "other", "namespace": "team-b"},
            "spec": {"modelName": "m", "poolRef": {"name": "team-b-pool"}},
        }
    )
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "b1.yaml"), "--delete-crds")
    assert done.returncode == 3 and "team-b/other" in done.stderr
    assert migrated.api.get(*ALPHA_POOL) is not None, "refused before anything was deleted"

    migrated.api.objects.pop((ALPHA_GROUP, "inferencemodels", "team-b", "other"))
    done = migrated.migrate(*CLEANUP, "--backup", str(tmp_path / "b2.yaml"), "--delete-crds")
    assert done.returncode == 0, done.stderr
    names = {c["metadata"]["name"] for c in migrated.api.all("apiextensions.k8s.io/v1", "CustomResourceDefinition")}
    assert (
        "inferencepools.inference.networking.x-k8s.io" not in names
        and "inferencemodels.inference.networking.x-k8s.io" not in names
    )
    assert "inferencepools.inference.networking.k8s.io" in names
    saved = yaml.safe_load((tmp_path / "b2.yaml").read_text())["items"]
    assert [o["kind"] for o in saved[:2]] == ["CustomResourceDefinition"] * 2, "CRDs first, so restore can use them"
    assert migrated.migrate("restore", str(tmp_path / "b2.yaml")).returncode == 0
    assert migrated.api.get(*ALPHA_POOL) is not None

"""Issue 31.1: the state files (backup, models export, run state) are keyed by the cluster, not by a kube context's
name: the uid of its kube-system Namespace and the server's URL, in the file's name and first line. Two clusters
whose contexts share a name never share a file; a file of the version before (keyed by context) is still read when
the cluster vouches for it, and never written."""

from __future__ import annotations

import pytest
import yaml

from infgw_postrender.cluster.state import BACKUP, ClusterIdentity, StateKey, read_items, write_items
from infgw_postrender.errors import InputError

ROUTE = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "llm-route", "namespace": "llm", "uid": "route-of-a"}}  # fmt: skip
POOL = {"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferencePool",
        "metadata": {"name": "vllm", "namespace": "llm", "uid": "pool-of-a"}}  # fmt: skip


def key(uid: str, server: str, live: list[dict] | None = None) -> StateKey:
    """A key on a cluster whose context is `admin` (as two clusters' may both be), holding `live` objects."""

    def found(objects: list[dict]) -> list[dict]:
        names = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects}
        return [o for o in live or [] if (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) in names]

    return StateKey(ClusterIdentity(uid, server, "admin"), "llm", "vllm", found)


A = ("3f0c9a52-1111-4b6e-9d0e-aaaaaaaaaaaa", "https://34.1.2.3")
B = ("7d41e8b0-2222-4c1f-8e2a-bbbbbbbbbbbb", "https://10.0.0.2:6443")


def test_two_clusters_whose_contexts_share_a_name_write_two_files(tmp_path):
    a, b = key(*A), key(*B)
    assert a.path(tmp_path, BACKUP) != b.path(tmp_path, BACKUP)
    assert a.path(tmp_path, BACKUP).name == f"34.1.2.3_{A[0]}.llm.vllm.backup.yaml"
    assert b.path(tmp_path, BACKUP).name == f"10.0.0.2_6443_{B[0]}.llm.vllm.backup.yaml"
    write_items(a.path(tmp_path, BACKUP), a, BACKUP, [POOL], "--backup")
    write_items(b.path(tmp_path, BACKUP), b, BACKUP, [ROUTE], "--backup")
    assert read_items(a.path(tmp_path, BACKUP), a, BACKUP, "--backup") == [POOL]
    assert read_items(b.path(tmp_path, BACKUP), b, BACKUP, "--backup") == [ROUTE]
    first = a.path(tmp_path, BACKUP).read_text().splitlines()[0]
    assert first == f"# infgw-migrate backup: cluster={A[0]} server={A[1]} namespace=llm pool=vllm"


def test_a_file_of_another_cluster_is_refused_naming_both(tmp_path):
    a, b = key(*A), key(*B)
    path = tmp_path / "backup.yaml"
    write_items(path, a, BACKUP, [POOL], "--backup")
    with pytest.raises(InputError) as refused:
        read_items(path, b, BACKUP, "--backup")
    assert f"written for another migration (# infgw-migrate backup: cluster={A[0]}" in str(refused.value)
    assert f"not for cluster={B[0]} server={B[1]}" in str(refused.value)


def _legacy(tmp_path, items: list[dict]):
    """A backup as the version before this one wrote it: named and headed by the context alone."""
    path = tmp_path / "admin.llm.vllm.backup.yaml"
    header = "# infgw-migrate backup: context=admin namespace=llm pool=vllm\n"
    path.write_text(header + yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def test_a_file_of_the_version_before_is_read_where_the_cluster_vouches_for_it(tmp_path):
    """The route it saved is there with the same uid: this cluster's file. Read, and the next write goes to the
    cluster's own name: the old file stays as it was."""
    legacy = _legacy(tmp_path, [ROUTE, POOL])
    before = legacy.read_bytes()
    a = key(*A, live=[ROUTE])  # the pool is gone (cleanup deleted it), the route is there
    own = a.path(tmp_path, BACKUP)
    assert read_items(own, a, BACKUP, "--backup") == [ROUTE, POOL]
    write_items(own, a, BACKUP, [ROUTE, POOL], "--backup")
    assert legacy.read_bytes() == before and own.exists()


@pytest.mark.parametrize(
    "live",
    [
        [],  # nothing it saved is there: nothing vouches
        [{**ROUTE, "metadata": {**ROUTE["metadata"], "uid": "route-of-b"}}],  # another cluster's twin of the route
        [ROUTE, {**POOL, "metadata": {**POOL["metadata"], "uid": "pool-of-b"}}],  # one matches, one does not
    ],
    ids=["nothing-there", "another-uid", "one-of-two"],
)
def test_a_file_of_the_version_before_that_the_cluster_cannot_vouch_for_is_left_alone(tmp_path, live):
    legacy = _legacy(tmp_path, [ROUTE, POOL])
    b = key(*B, live=live)
    assert read_items(b.path(tmp_path, BACKUP), b, BACKUP, "--backup") is None, "as if there were none"
    with pytest.raises(InputError) as refused:  # named by the user: said plainly
        read_items(legacy, b, BACKUP, "--backup")
    assert "written by an earlier infgw-migrate for context admin" in str(refused.value)
    assert "pass another path" in str(refused.value)


def test_the_run_state_of_the_version_before_is_vouched_for_by_its_backup(tmp_path):
    """The run state holds no object to check: the backup beside it vouches for both."""
    _legacy(tmp_path, [ROUTE])
    (tmp_path / "admin.llm.vllm.run.yaml").write_text(
        "# infgw-migrate run: context=admin namespace=llm pool=vllm\n"
        "apiVersion: v1\nkind: List\nitems:\n- {kind: MigrationRun, path: simple}\n"
    )
    mine, theirs = key(*A, live=[ROUTE]), key(*B, live=[])
    assert read_items(mine.path(tmp_path, "run"), mine, "run", "--state-dir") == [
        {"kind": "MigrationRun", "path": "simple"}
    ]
    assert read_items(theirs.path(tmp_path, "run"), theirs, "run", "--state-dir") is None

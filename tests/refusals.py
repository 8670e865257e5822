"""The requests a real API server refuses (or answers otherwise than a naive double would), and the answers a real
kube-apiserver v1.34 gives: the table tests/cluster/test_emulator_refuses.py sends to the emulator and
tests/realapi/test_real_server_refuses.py to the real server (issue 32.4)."""

from __future__ import annotations

import copy

from conftest import GA_GROUP, ga_pool

POOLS = f"/apis/{GA_GROUP}/v1/namespaces/default/inferencepools"
STRICT = {"fieldValidation": ["Strict"]}  # what kubectl apply and create send (kubectl -v=6)
MERGE = "application/merge-patch+json"


def pool(**changes) -> dict:
    made = ga_pool("p")
    made["metadata"].update(changes.pop("metadata", {}))
    made["spec"].update(changes.pop("spec", {}))
    return {**made, **changes}


def stored(send) -> dict | None:
    status, body = send("GET", f"{POOLS}/p")
    return body if status == 200 else None


# (what, requests: (method, path, body, content type, query), the last one's status, words of its message, check)
CASES = [
    ("an unknown field, strict", [("POST", POOLS, pool(spec={"bogus": 1}), None, STRICT)], 400,
     'strict decoding error: unknown field "spec.bogus"', None),
    ("an unknown field, not strict: pruned", [("POST", POOLS, pool(spec={"bogus": 1}), None, {})], 201, "",
     lambda send: "bogus" not in stored(send)["spec"]),
    ("a create in a namespace that does not exist",
     [("POST", f"/apis/{GA_GROUP}/v1/namespaces/nowhere/inferencepools", pool(metadata={"namespace": "nowhere"}),
       None, STRICT)], 404, 'namespaces "nowhere" not found', None),
    ("a create whose namespace is not the URL's",
     [("POST", f"/apis/{GA_GROUP}/v1/namespaces/other/inferencepools", pool(), None, STRICT)], 400,
     "the namespace of the provided object does not match the namespace sent on the request", None),
    ("a create's status: ignored (the status subresource writes it)",
     [("POST", POOLS, pool(status={"parents": [{"parentRef": {"name": "g"}}]}), None, STRICT)], 201, "",
     lambda send: "parents" not in (stored(send).get("status") or {})),
    ("an update of a custom resource without resourceVersion",
     [("POST", POOLS, pool(), None, STRICT), ("PUT", f"{POOLS}/p", pool(), None, {})], 422,
     "metadata.resourceVersion: Invalid value: 0: must be specified for an update", None),
    ("an update whose name is not the URL's",
     [("POST", POOLS, pool(), None, STRICT), ("PUT", f"{POOLS}/p", pool(metadata={"name": "q"}), None, {})], 400,
     "the name of the object (q) does not match the name on the URL (p)", None),
    ("a strategic-merge patch of a custom resource",
     [("POST", POOLS, pool(), None, STRICT),
      ("PATCH", f"{POOLS}/p", {"spec": {"targetPorts": [{"number": 1}]}}, "application/strategic-merge-patch+json", {})],
     415, "", None),
    ("a delete held by a finalizer, done once it is removed",
     [("POST", POOLS, pool(metadata={"finalizers": ["test.infgw-migrate.io/hold"]}), None, STRICT),
      ("DELETE", f"{POOLS}/p", None, None, {})], 200, "",
     lambda send: stored(send)["metadata"].get("deletionTimestamp") is not None
     and send("PATCH", f"{POOLS}/p", {"metadata": {"finalizers": None}}, MERGE, {})[0] == 200
     and stored(send) is None),
]  # fmt: skip


def check(send, requests, status, words, after) -> None:
    """Send each request; the last one answers `status` with `words` in its message, and `after` holds."""
    for method, path, body, content_type, query in requests:
        got, answer = send(method, path, copy.deepcopy(body), content_type, query)
    assert got == status, answer
    if words:
        assert words in (answer or {}).get("message", ""), answer
    if after is not None:
        assert after(send), answer

"""Issue 32.4: the API emulator (tests/kube_api.py) refuses what a real API server refuses. One table of requests
and the answers a real kube-apiserver v1.34 gives them; tests/realapi/test_real_server_refuses.py sends the very
same table to the real server, so the double cannot drift from it unnoticed. Server-side apply's field managers
are the one behaviour it does not model (tests/README.md says which tier proves it)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES
from refusals import CASES, check


@pytest.fixture
def emulator_api():
    from conftest import starting_api

    api = starting_api()
    api.load(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")
    return api


@pytest.mark.parametrize("what, requests, status, words, after", CASES, ids=[case[0] for case in CASES])
def test_the_emulator_answers_as_a_real_server(emulator_api, what, requests, status, words, after):
    def send(method, path, body=None, content_type=None, query=None):
        return emulator_api.call(method, path, body, query or {}, content_type or "application/json")

    check(send, requests, status, words, after)

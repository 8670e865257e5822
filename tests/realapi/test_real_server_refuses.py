"""Issue 32.4: tests/cluster/test_emulator_refuses.py's table of requests, sent to a real kube-apiserver: the answers
the emulator gives them are the real server's."""

from __future__ import annotations

import pytest
from conftest import FIXTURES
from real_server import real  # noqa: F401  (the fixture)
from refusals import CASES, check

pytestmark = pytest.mark.realapi


@pytest.mark.parametrize("what, requests, status, words, after", CASES, ids=[case[0] for case in CASES])
def test_the_real_server_answers_as_the_table_says(real, what, requests, status, words, after):  # noqa: F811
    import requests as http

    real.apply_files(FIXTURES / "crds" / "inference-extension-v1.0.0-manifests.yaml")

    def send(method, path, body=None, content_type=None, query=None):
        answer = http.request(
            method, f"{real.url}{path}", json=body, params={k: v[0] for k, v in (query or {}).items()}, verify=real.ca,
            timeout=10, headers={"Authorization": f"Bearer {real.token}", "Content-Type": content_type or "application/json"},
        )  # fmt: skip
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, {"message": answer.text}

    check(send, requests, status, words, after)

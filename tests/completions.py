"""A completion server on loopback, as the guide's check asks one (POST /v1/completions), that answers as told:
ok, 404, 503, not JSON, or never. Also the `server` fixture that runs it."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest


class Completions(http.server.BaseHTTPRequestHandler):
    behaviour = "ok"
    seen: list = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Completions.seen.append((self.path, body))
        if self.behaviour == "never":
            time.sleep(10)
            return
        status, payload = {
            "ok": (200, ANSWERED),
            "404": (404, json.dumps({"error": "model not found"})),
            "503": (503, "no healthy upstream"),
            "not-json": (200, "<html>hello</html>"),
        }[self.behaviour]
        answer(self, status, payload)


ANSWERED = json.dumps({"id": "cmpl-1", "object": "text_completion", "choices": [{"text": "Fine."}]})


def answer(handler: http.server.BaseHTTPRequestHandler, status: int, payload: str) -> None:
    data = payload.encode()
    handler.send_response(status)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


@pytest.fixture
def server():
    # every test starts from an answering server: a test run after one that asked for 404 or "never", in the same
    # worker, would otherwise inherit it
    Completions.seen, Completions.behaviour = [], "ok"
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Completions)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()

"""Issue 32.1: `bash scripts/try-it` runs the whole zero-downtime migration on a throwaway real API server, prints
each stage and a `status` that says finished, and leaves nothing behind (no server, no stand-in, no folder), on
success and when stopped; its helpers explain themselves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO
from real_server import build_server

pytestmark = pytest.mark.realapi
TRY_IT = REPO / "scripts" / "try-it"


def _environment(tmp_path: Path) -> dict:
    """A newcomer's shell: no Helm or kube settings of the suite's, its own temporary folder."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HELM_", "KUBE"))}
    return {**env, "TMPDIR": str(tmp_path)}


def _left_running(folder: str) -> list[str]:
    """Processes whose command line names the try-out's folder (its server, the stand-in)."""
    found = subprocess.run(["ps", "-eo", "pid,stat,args"], capture_output=True, text=True).stdout.splitlines()
    return [line for line in found if folder in line and " Z" not in line]


def test_try_it_migrates_to_the_end_and_leaves_nothing(tmp_path):
    build_server()  # built once for the suite; try-it would say it builds it
    done = subprocess.run(["bash", str(TRY_IT)], capture_output=True, text=True, env=_environment(tmp_path),
                          timeout=600)  # fmt: skip
    output = done.stderr + done.stdout
    assert done.returncode == 0, output[-3000:]
    for stage in (0, 50, 100):
        assert f"send {stage}% of llm-route to the GA pool vllm-llama3-8b-instruct-ga" in output, stage
    assert "HTTPRoute default/llm-route: finished\n" in done.stdout
    assert "next: nothing: the migration is finished" in done.stdout
    folder = re.search(r"taken down: the API server, the stand-in and (\S+)", output).group(1)
    assert Path(folder).parent == tmp_path and not Path(folder).exists()
    assert _left_running(folder) == []


def test_ctrl_c_takes_everything_down(tmp_path):
    """Stopped while the migration runs: exit 130, and the same teardown."""
    build_server()
    child = subprocess.Popen(["bash", str(TRY_IT)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_environment(tmp_path), start_new_session=True)  # fmt: skip
    seen = ""
    deadline = time.monotonic() + 300
    while "infgw-migrate migrate --path zero-downtime" not in seen and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        seen += line
    assert "infgw-migrate migrate --path zero-downtime" in seen, seen[-2000:]
    os.killpg(child.pid, signal.SIGINT)  # as Ctrl-C at a terminal: the whole foreground group
    rest, _ = child.communicate(timeout=120)
    seen += rest
    assert child.returncode == 130, seen[-2000:]
    folder = re.search(r"taken down: the API server, the stand-in and (\S+)", seen).group(1)
    assert not Path(folder).exists() and _left_running(folder) == []


@pytest.mark.parametrize("script", ["try-it", "gateway-standin", "apiserver"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_the_helpers_explain_themselves(script, flag):
    command = ["bash"] if script == "try-it" else [sys.executable]
    done = subprocess.run([*command, str(REPO / "scripts" / script), flag], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    words = {"try-it": ["zero-downtime", "takes everything down"], "gateway-standin": ["local try-outs only"],
             "apiserver": ["build", "up DIR", "save DIR SEED", "down DIR"]}[script]  # fmt: skip
    assert all(word in done.stdout for word in words), done.stdout

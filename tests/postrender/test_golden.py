"""Golden cases: whole streams through the real infgw-postrender. Each case (tests/golden/<case>/case.yaml) names
a chart of the fixtures, its --set values and the post-renderer's flags; beside it are the expected stdout
(expected.yaml) and report on stderr (report.txt), or the expected one-line error (error.txt).

The expected files were reviewed by hand when written; the test also checks them against what does not come from
this code: every GA object validates against the fixtures' CRDs, and nothing of the chart's output is lost.
GOLDEN_UPDATE=1 rewrites them (then review the diff)."""

import os
import subprocess
from pathlib import Path

import pytest
from conftest import CHARTS, docs, run_postrender, tool

pytestmark = pytest.mark.e2e  # the charts rendered by the real Helm

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "case.yaml").exists())


def render(case: dict) -> str:
    sets = [arg for value in case.get("set", []) for arg in ("--set", value)]
    return subprocess.run(
        [
            tool("helm3"),
            "template",
            case["release"],
            str(CHARTS / case["chart"]),
            "-n",
            case.get("namespace", "default"),
            *sets,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.mark.parametrize("name", CASES)
def test_golden(name, schemas):
    folder = GOLDEN / name
    case = docs((folder / "case.yaml").read_text())[0]
    rendered = render(case)
    done = run_postrender(rendered, *case.get("flags", []))
    if os.environ.get("GOLDEN_UPDATE"):
        if done.returncode:
            (folder / "error.txt").write_text(done.stderr)
        else:
            (folder / "expected.yaml").write_text(done.stdout)
            (folder / "report.txt").write_text(done.stderr)
    if (folder / "error.txt").exists():
        assert done.returncode == 2 and done.stdout == ""
        assert done.stderr == (folder / "error.txt").read_text()
        assert len(done.stderr.splitlines()) == 1
        return
    assert done.returncode == 0, done.stderr
    assert done.stdout == (folder / "expected.yaml").read_text()
    assert done.stderr == (folder / "report.txt").read_text()
    before, after = docs(rendered), docs(done.stdout)
    assert len(after) >= len(before), "an object of the chart was lost"
    for obj in after:
        if obj["kind"] in {"InferencePool", "InferenceObjective", "InferenceModelRewrite", "HTTPRoute"}:
            schemas.validate(obj, release=case["chart"].rpartition("-")[2])  # the CRDs of the chart's release

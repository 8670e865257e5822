"""`infgw-migrate install|upgrade|template` hands its post-renderer flags to Helm as --post-renderer-args: what the
post-renderer's own command line makes of them is what the user asked for, field by field; and what its start reads
without click is what click reads."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from conftest import POSTRENDER, REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infgw_postrender.cli.postrender import command_line
from infgw_postrender.cli.postrender_command import command
from infgw_postrender.cli.postrender_run import COMMAND_FLAGS, FLAGS, as_args, options_of
from infgw_postrender.postrender.pipeline import Options

EVERY_FIELD_SET = Options(
    pool_name="vllm-ga",
    release="vllm-ga",
    alpha_pool="vllm",
    alpha_namespace="llm-alpha",
    ga_weight=0,
    route_name="chat",
    gateway="gw/infra",
    route_from="route.yaml",
    objectives=("chat=2", "batch=-1"),
    objectives_from="models.yaml",
    priority_map="Critical=2,Standard=1,Sheddable=-1",
    target_version="v1.3.0",
    model_routing=True,
)


def parsed(args: list[str]) -> dict:
    return command.make_context("infgw-postrender", list(args)).params


def test_every_option_set_reaches_the_post_renderer_as_given():
    defaults = Options()
    assert all(getattr(EVERY_FIELD_SET, name) != getattr(defaults, name) for name in Options._fields), (
        "set every field, so that each one's flag is checked"
    )
    params = parsed(as_args(EVERY_FIELD_SET, report_path="r.json", error_file="e.txt", quiet=True))
    assert (params.pop("report_path"), params.pop("error_file"), params.pop("quiet")) == ("r.json", "e.txt", True)
    assert (params.pop("offline"), params.pop("kube_context")) == (False, None)  # the command's, not the render's
    assert options_of(params) == EVERY_FIELD_SET


def test_defaults_are_left_out_and_weight_zero_is_kept():
    assert as_args(Options()) == []
    assert as_args(Options(alpha_pool="vllm", ga_weight=0)) == ["--alpha-pool=vllm", "--ga-weight=0"]
    params = parsed([])
    assert (params.pop("report_path"), params.pop("error_file"), params.pop("quiet")) == (None, None, False)
    assert (params.pop("offline"), params.pop("kube_context")) == (False, None)
    assert options_of(params) == Options()


# What a command line may hold: mostly the post-renderer's flags with values of their kind, some it refuses (a name
# that is no DNS label, a weight out of range, a directory for a file), and words it does not know
OTHER_WORDS = ["--help", "-h", "--version", "--", "-qq", "--pool", "--quiet=1", "vllm", "-x"]
VALUES = {
    "name": ["vllm", "{release}-v1", "Bad_Name", ""],
    "weight": ["0", "50", "100", "101", "x", " 7"],
    "text": ["gw/infra", "a=b", ""],
    "list": ["chat=2", "x"],
}


@st.composite
def command_lines(draw, files: list[str]) -> list[str]:
    words: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.integers(0, 9)) == 0:
            words.append(draw(st.sampled_from(OTHER_WORDS)))
            continue
        flag = draw(st.sampled_from(FLAGS + COMMAND_FLAGS))
        name = draw(st.sampled_from(flag.names))
        if flag.kind == "switch":
            words.append(name)
            continue
        value = draw(st.sampled_from(files if flag.kind == "file" else VALUES[flag.kind]))
        words += [f"{name}={value}"] if draw(st.booleans()) else [name, value]
    return words


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_command_line_read_without_click_means_what_click_reads(data, tmp_path):
    existing = tmp_path / "models.yaml"
    existing.write_text("")
    args = data.draw(command_lines([str(existing), str(tmp_path / "report.json"), str(tmp_path)]))
    values = command_line(list(args))
    if values is not None:  # else click reads it: what it says is the click command's (tests of its errors)
        assert values == parsed(args), args


def test_the_command_lines_helm_is_given_are_read_without_click(tmp_path):
    # what `infgw-migrate install` hands Helm (--flag=value), and the same flags as a user types them
    helm_given = [*as_args(EVERY_FIELD_SET, report_path="r.json", error_file="e.txt", quiet=True), "--offline"]
    typed = ["--alpha-pool", "vllm", "--ga-weight", "50", "--objective", "chat=2", "-q", "--kube-context", "kind-a"]
    for args in (helm_given, typed, []):
        assert command_line(list(args)) == parsed(args)


@pytest.mark.e2e
def test_a_post_render_of_a_plain_command_line_imports_no_click(tmp_path):
    # click is a fifth of the post-renderer's start, paid by every `helm install` (issue 33)
    stream = (REPO / "examples" / "vllm-ga-rendered.yaml").read_text()
    script = (
        "import sys; from infgw_postrender.cli.postrender import run_command_line; run_command_line(sys.argv[1:]); "
        "print('click' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "--alpha-pool", "vllm", "--ga-weight", "50", "--offline", "-q"],
        input=stream,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert "kind: HTTPRoute" in done.stdout and done.stdout.rstrip().endswith("False"), done.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("plain", [True, False], ids=["read-without-click", "read-by-click"])
def test_a_reader_that_goes_away_or_an_interrupt_ends_it_as_click_would(plain):
    # the same ends whichever way the command line is read (a flag given twice: click reads it, the last one wins)
    args = ["--alpha-pool", "vllm", "--ga-weight", "50", "--offline", "-q"] + ([] if plain else ["--alpha-pool=vllm"])
    stream = (REPO / "examples" / "vllm-ga-rendered.yaml").read_text()
    gone = subprocess.Popen([POSTRENDER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gone.stdout.close()  # the reader went away before the stream was written
    _, stderr = gone.communicate(stream.encode(), timeout=60)
    assert gone.returncode == 1 and stderr == b"", stderr
    waiting = subprocess.Popen(
        [POSTRENDER, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    waiting.stdin.write(b"---\n")
    waiting.stdin.flush()
    time.sleep(1)  # reading stdin, which is not closed: ^C
    waiting.send_signal(signal.SIGINT)
    stdout, stderr = waiting.communicate(timeout=60)
    assert (waiting.returncode, stdout, stderr.strip()) == (1, b"", b"Aborted!"), stderr

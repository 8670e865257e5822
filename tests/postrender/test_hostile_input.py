"""The post-renderer on hostile and broken input. For every input: no traceback; either a result (valid YAML
whenever the input was, post-rendering it again changes nothing, the same bytes every time) or exit status 2
with one line on stderr and nothing on stdout.

Mutations start from the real chart output (Helm 3 renders the fixture charts once), so the fuzzing reaches the
documents the post-renderer parses and changes, not only its front door. The tally of inputs tried and broken is
printed at the end of the run (`pytest -s` or the terminal summary)."""

from __future__ import annotations

import os
import re
import subprocess
import traceback

import pytest
import yaml
from click.testing import CliRunner
from conftest import ALPHA_GROUP, CHARTS, POSTRENDER, postrender_entry, run_postrender, tool
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infgw_postrender.errors import InputError

# More for a soak run: FUZZ_EXAMPLES=30000 pytest tests/postrender/test_hostile_input.py
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
TALLY = {"tried": 0, "results": 0, "refused": 0, "broke": 0}
FLAG_SETS = [
    [],
    ["--alpha-pool=vllm", "--ga-weight=50", "--objective=chat=2"],
    ["--pool-name=vllm", "--alpha-pool=vllm", "--ga-weight=100"],
    ["--pool-name={release}-v1", "--alpha-pool={release}-a", "--ga-weight=0", "--objective={release}-x=1"],
]
# Tokens that YAML, shells and Kubernetes treat specially.
NASTY = [
    "&a ",
    "*a",
    "<<: *a",
    "\t",
    "- ",
    ": ",
    "{",
    "}",
    "[",
    "]",
    "'",
    '"',
    "\\",
    "$(id)",
    "`id`",
    "é",
    "\u2028",
    "\x00",
    "\x85",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "!!python/object:os.system ",
    "~",
    "null",
    "0x1F",
    "1e3",
    "0o17",
    ".inf",
    "yes",
    "\n  ",
    "\n",
    "#",
    "| ",
    "> ",
    "? ",
    "@",
    "%",
    "12345678901234567890",
]


@pytest.fixture(scope="module")
def rendered() -> list[str]:
    outputs = []
    alpha = ["--set", "inferencePool.apiVersion=inference.networking.x-k8s.io/v1alpha2"]
    for chart, extra in (
        ("inferencepool-v0.3.0", []),
        ("inferencepool-v1.0.0", ["--set", "provider.name=gke"]),
        ("inferencepool-v1.5.0", ["--set", "provider.name=gke"]),
        ("inferencepool-v1.0.0", alpha),
    ):  # an alpha pool with an EPP that can serve it converted
        outputs.append(
            subprocess.run(
                [
                    tool("helm3"),
                    "template",
                    "vllm",
                    str(CHARTS / chart),
                    "--set",
                    "inferencePool.modelServers.matchLabels.app=vllm",
                    *extra,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    return outputs


def post_render(data: bytes, flags: list[str]):
    """In process, through the same entry as the installed executable."""
    return CliRunner().invoke(postrender_entry([*flags, "-q"]), [*flags, "-q"], input=data, catch_exceptions=True)


def check_outcome(data: bytes, flags: list[str]):
    """The post-renderer's result for this input: a refusal in one line, or a stream it leaves as it is when run
    again; never a traceback."""
    TALLY["tried"] += 1
    result = post_render(data, flags)
    try:
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            where = "".join(traceback.format_exception(*result.exc_info)[-12:])
            raise AssertionError(f"traceback: {result.exception!r}\n{where}")
        if result.exit_code == 2:
            lines = result.stderr.splitlines()
            assert result.stdout == "", "a refusal writes nothing on stdout"
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
            TALLY["refused"] += 1
            return result
        assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
        TALLY["results"] += 1
        if _parses(data):
            out = result.stdout_bytes
            assert _parses(out), "valid input gave invalid output"
            again = post_render(out, flags)
            assert again.exit_code == 0 and again.stdout_bytes == out, (
                f"post-rendering twice changed the output {again.stderr}"
            )
            assert post_render(data, flags).stdout_bytes == out, "not deterministic"
    except AssertionError:
        TALLY["broke"] += 1
        raise
    return result


def _parses(data: bytes) -> bool:
    try:
        # libyaml's loader: the judge of valid YAML is independent of the tool's parser, and ten times faster
        documents = list(yaml.load_all(data.decode("utf-8"), Loader=yaml.CSafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return False
    return all(
        d is None or (isinstance(d, dict) and isinstance(d.get("apiVersion"), str) and isinstance(d.get("kind"), str))
        for d in documents
    )


@st.composite
def mutated(draw, outputs: list[str]) -> tuple[bytes, list[str]]:
    lines = draw(st.sampled_from(outputs)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(lines) - 1, 0)))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "number", "nasty-line"]))
        if not lines:
            break
        if kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "insert":
            line = lines[at]
            column = draw(st.integers(0, len(line)))
            lines[at] = line[:column] + draw(st.sampled_from(NASTY)) + line[column:]
        elif kind == "number":
            lines[at] = re.sub(r":\s+\S.*$", ": " + str(draw(st.integers(-(10**20), 10**20))), lines[at])
        else:
            lines.insert(at, draw(st.sampled_from(NASTY)) + draw(st.text(max_size=20)) + "\n")
    data = "".join(lines).encode("utf-8", "replace")
    if draw(st.integers(0, 19)) == 0:  # now and then a byte that is not UTF-8
        data = data[: len(data) // 2] + b"\xff" + data[len(data) // 2 :]
    return data, draw(st.sampled_from(FLAG_SETS))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_mutated_chart_output(rendered, data):
    stream, flags = data.draw(mutated(rendered))
    check_outcome(stream, flags)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(FLAG_SETS))
def test_random_bytes(stream, flags):
    check_outcome(stream, flags)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=40), flags=st.sampled_from(FLAG_SETS))
def test_any_name_in_the_pool(rendered, name, flags):
    """Names with newlines, quotes, `$(...)`, unicode: as a quoted scalar, the result is still the same name."""
    quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    # the InferencePool's own name (the chart names other objects vllm too, the GCPBackendPolicy first)
    stream = re.sub(r"(?m)(^kind: InferencePool\n(?:.*\n)*?^  name: )vllm$", lambda m: m.group(1) + quoted,
                    rendered[1], count=1)  # fmt: skip
    assert stream != rendered[1]
    data = stream.encode("utf-8", "replace")
    result = check_outcome(data, flags)
    if result.exit_code != 0 or not _parses(data):
        return  # refused, in one line; or input no YAML reader takes, which it passed through

    def pool_names(text: str) -> list[str]:
        return [d["metadata"]["name"] for d in yaml.safe_load_all(text) if isinstance(d, dict) and d.get("kind") == "InferencePool"]  # fmt: skip

    # the pool keeps the name (as YAML reads it: a NEL in quotes reads as a space), or takes the one --pool-name
    # gives (its {release} is the pool's own name)
    (read,) = pool_names(stream)
    expected = {0: read, 1: read, 2: "vllm", 3: f"{read}-v1"}[FLAG_SETS.index(flags)]
    assert pool_names(result.stdout) == [expected], (name, flags)


LAUGHS = 'lol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"l{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)
POOL = """---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferencePool
metadata:
  name: vllm
spec:
  targetPortNumber: 8000
  selector: {app: vllm}
  extensionRef: {name: vllm-epp}
"""


@pytest.mark.e2e  # the post-renderer's own process, measured by /usr/bin/time
@pytest.mark.parametrize(
    "name, stream, expected",
    [
        (
            "alias bomb in the pool",
            POOL + "  extra:\n" + "".join("    " + line for line in LAUGHS.splitlines(True)),
            "alias bomb",
        ),
        (
            "alias bomb elsewhere",
            POOL
            + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
            + "".join("  " + line for line in LAUGHS.splitlines(True)),
            "alias bomb",
        ),
        ("50 MB pool", POOL + "  big: " + "a" * 50_000_000 + "\n", "larger than any object the API server stores"),
        ("deep nesting", POOL + "  deep: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
        ("tab indentation", POOL.replace("  targetPortNumber", "\ttargetPortNumber"), "malformed YAML"),
        ("duplicate key", POOL + "  targetPortNumber: 9000\n", "duplicate key"),
        ("number as a name", POOL.replace("name: vllm\n", "name: 123\n", 1), "metadata.name is 123, not a string"),
        ("invalid UTF-8", POOL + "# \xff\n", "not UTF-8"),
    ],
)
def test_named_hostile_inputs_are_refused_quickly_with_bounded_memory(name, stream, expected):
    data = stream.encode("latin-1") if name == "invalid UTF-8" else stream.encode()
    # CPU seconds (user + system), which a busy machine does not inflate as it does the wall clock (issue 20.7:
    # 15.4 s of wall time under load); the speed itself is measured by scripts/bench.py
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M %U %S", str(POSTRENDER), "--alpha-pool=vllm", "--ga-weight=50"],
        input=data,
        capture_output=True,
    )
    *message, usage = done.stderr.decode().strip().splitlines()
    peak_kib, user, system = usage.split()
    message = [line for line in message if not line.startswith("Command exited")]
    assert done.returncode == 2 and done.stdout == b""
    assert len(message) == 1 and expected in message[0], message
    assert float(user) + float(system) < 10, f"{name} took {float(user) + float(system):.1f} CPU seconds"
    assert int(peak_kib) < 4 * len(data) // 1024 + 64 * 1024, f"{name}: {int(peak_kib) // 1024} MiB"


@pytest.mark.e2e  # the post-renderer's own process
def test_50_mb_document_that_needs_no_change_passes_through():
    big = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + "a" * 50_000_000 + "\n"
    done = subprocess.run([str(POSTRENDER), "-q"], input=(POOL + big).encode(), capture_output=True)
    assert done.returncode == 0 and done.stdout.decode().endswith(big)


def test_a_pool_whose_epp_name_is_not_a_string_is_named_in_the_error():
    """Found by fuzzing without the broad shape catch (issue 12): the error names the field, not a TypeError."""
    from infgw_postrender.postrender.pipeline import Options, post_render

    stream = (
        "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata:\n  name: p\n"
        "spec:\n  endpointPickerRef:\n    name: 1\n"
    )
    with pytest.raises(InputError, match=r"document 0: spec.endpointPickerRef.name is 1, not a string; quote it"):
        post_render(stream, Options())


@pytest.mark.parametrize(
    "stream, message",
    [
        (
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: p-epp\nrules:\n"
            "- apiGroups: 1\n  resources: [inferencepools]\n  verbs: [get]\n",
            r"rules\[0\].apiGroups is 1, not a list of strings",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: p-epp\nspec:\n  template:\n    spec:\n      containers:\n"
            "      - name: epp\n        image: 7\n        args: [--pool-name, p]\n",
            r"the EPP container's image is 7, not a string",
        ),
    ],
    ids=["rule-not-a-list", "image-not-a-string"],
)
def test_shapes_fuzzing_found_are_named_errors(stream, message):
    """Issue 12: with no broad catch, fuzzing found these tracebacks; each is now one line naming the field."""
    from infgw_postrender.postrender.pipeline import Options, post_render

    pool = (
        "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferencePool\nmetadata:\n  name: p\n"
        "spec:\n  selector: {app: m}\n  targetPortNumber: 8000\n  extensionRef:\n    name: p-epp\n---\n"
    )
    with pytest.raises(InputError, match=message):
        post_render(pool + stream, Options(alpha_pool="p"))


@pytest.mark.parametrize("value", ["0x_", "0b_", "0o_"])
def test_numbers_ruamel_cannot_construct_are_malformed_yaml(value):
    """Fuzzing found that ruamel.yaml's number constructors fail on these (IndexError, ValueError) where its
    resolver takes them for numbers: bad input, so one line and exit 2, not a traceback."""
    stream = f"apiVersion: {ALPHA_GROUP}/v1alpha2\nkind: InferencePool\nmetadata:\n  name: x\nspec: {{targetPortNumber: {value}}}\n"
    done = run_postrender(stream)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("Error: document 0: malformed YAML") and len(done.stderr.splitlines()) == 1


def test_a_pool_whose_spec_is_a_list_is_named_in_the_error():
    stream = f"apiVersion: {ALPHA_GROUP}/v1alpha2\nkind: InferencePool\nmetadata:\n  name: x\nspec:\n- 1\n"
    done = run_postrender(stream)
    assert done.returncode == 2 and "InferencePool x: spec is not a mapping" in done.stderr


def _parse_only(result):
    """The post-renderer's outcome with every read and change off the text turned off: each document it looks at
    parsed, as before issue 33."""
    from unittest import mock

    from infgw_postrender.postrender import stream

    never = staticmethod(lambda *args, **kwargs: None)
    with (
        mock.patch.object(stream.Document, "peek_items", lambda self, *a: None),
        mock.patch.object(stream.Document, "add_entry", lambda self, *a: None),
        mock.patch.object(stream.Document, "add_beside", lambda self, *a: None),
        mock.patch.object(stream.Document, "peek_mapping", lambda self, *a: None),
        mock.patch.object(stream, "_HEAD", mock.Mock(match=never.__func__)),
    ):
        return result()


@settings(
    max_examples=max(EXAMPLES // 5, 50),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_what_is_read_off_the_text_is_what_parsing_reads(rendered, data, tmp_path_factory):
    """The same outcome, whether a document is read and changed off its text or parsed: a refusal, or the same
    objects and the same report (the text may differ only in how a re-emitted entry is written)."""
    charts = st.tuples(st.sampled_from(rendered), st.sampled_from(FLAG_SETS)).map(
        lambda pair: (pair[0].encode(), pair[1])
    )
    stream, flags = data.draw(st.one_of(charts, mutated(rendered)))
    folder = tmp_path_factory.mktemp("report")

    def run(name: str):
        result = post_render(stream, [*flags, f"--report={folder / name}"])
        return result, (folder / name).read_text() if (folder / name).exists() else None

    fast, fast_report = run("fast.json")
    slow, slow_report = _parse_only(lambda: run("slow.json"))
    if not _parses(stream) or (fast.exit_code == 0 and "malformed YAML" in slow.stderr):
        return  # a parse refuses what the text passes through untouched (a key twice in an entry nothing reads):
        # Helm refuses it then, visibly
    assert fast.exit_code == slow.exit_code, (fast.stderr, slow.stderr)  # input with two faults: either is named
    if fast.exit_code == 0:
        assert fast_report == slow_report
        if _parses(fast.stdout_bytes) and _parses(slow.stdout_bytes):  # what a YAML library reads of both
            read = [list(yaml.load_all(result.stdout, Loader=yaml.CSafeLoader)) for result in (fast, slow)]
            assert read[0] == read[1]

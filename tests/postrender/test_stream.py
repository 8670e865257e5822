"""The stream's documents: split at `---` lines whatever the chunks stdin arrives in; values read off the text
without parsing (peek) are what a YAML library reads; edits keep every untouched byte."""

from __future__ import annotations

import io
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_rewrites import ALPHA_POOL

from infgw_postrender.postrender.stream import read_chunks, split, split_chunks

SAFE = YAML(typ="safe", pure=True)
LINES = [
    "---\n",
    "--- # next\n",
    "---",
    "--- \r\n",
    "----\n",
    " ---\n",
    "---x\n",
    "a: 1\n",
    "\n",
    "x",
    "b: |\n  ---\n",
    "# Source: t.yaml\n",
    "é: ü\n",
]


def separated_by_lines(text: str) -> list[tuple[str, str]]:
    """(separator, body) per document, by the rule itself: a separator is a line `---`, then only spaces or a comment."""
    documents, separator, body = [], "", []
    for line in io.StringIO(text, newline="\n"):
        if re.fullmatch(r"---[ \t]*(?:#.*)?", line.rstrip("\n")):
            documents.append((separator, "".join(body)))
            separator, body = line, []
        else:
            body.append(line)
    return documents + [(separator, "".join(body))]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(LINES), max_size=14), st.integers(1, 9))
def test_split_is_the_same_at_any_chunk_size(lines, size):
    text = "".join(lines)
    documents = split_chunks(read_chunks(io.StringIO(text, newline="\n"), size))
    assert [(d.separator, d.body) for d in documents] == separated_by_lines(text)
    assert "".join(d.separator + d.body for d in documents) == text
    offset = 0
    for document in documents:  # the line numbers that messages give
        offset += len(document.separator)
        assert document.line == text[:offset].count("\n") + 1 or not document.body
        offset += len(document.body)


words = st.from_regex(r"[a-z][a-z0-9.-]{0,8}", fullmatch=True)
strings = st.one_of(
    words,
    st.sampled_from(["8000", "true", "a b", "x: y", "#c", "it's", 'say "hi"', "", "0.0.0", "v1", "~", "-x", "a\tb"]),
)
values = st.one_of(strings, st.integers(0, 9000), st.booleans(), st.none())
blocks = st.recursive(
    st.dictionaries(words, values, min_size=1, max_size=4),
    lambda inner: st.dictionaries(words, st.one_of(values, inner), min_size=1, max_size=4),
    max_leaves=12,
)


def as_chart_renders(obj: dict, quote: str | None) -> str:
    """Two-space block YAML, strings plain or all quoted one way, as chart templates write them."""
    yaml = YAML()
    yaml.indent(mapping=2, sequence=2, offset=0)
    if quote:
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

        kind = DoubleQuotedScalarString if quote == '"' else SingleQuotedScalarString

        def quoted(value):
            if isinstance(value, dict):
                return {key: quoted(item) for key, item in value.items()}
            return kind(value) if isinstance(value, str) else value

        obj = quoted(obj)
    out = io.StringIO()
    yaml.dump(obj, out)
    return out.getvalue()


def paths(obj: dict, prefix: tuple = ()):
    for key, value in obj.items():
        yield prefix + (key,), value
        if isinstance(value, dict):
            yield from paths(value, prefix + (key,))


@settings(max_examples=300, deadline=None)
@given(blocks, st.sampled_from([None, '"', "'"]))
def test_peek_reads_what_yaml_reads_or_nothing(obj, quote):
    text = as_chart_renders(obj, quote)
    truth = SAFE.load(text)
    document = split(text)[0]
    for path, _ in paths(truth):
        value = truth
        for key in path:
            value = value[key]
        peeked = document.peek(*path)
        assert peeked is None or peeked == value, (path, text)
        mapping = document.peek_mapping(*path)
        assert mapping is None or mapping == value, (path, text)
    for key, value in truth.items():
        if (
            quote
            and isinstance(value, dict)
            and all(
                isinstance(item, str) and item.isprintable() and not set("'\"\\") & set(item) for item in value.values()
            )
        ):
            assert document.peek_mapping(key) == value, text  # quoted one-line strings are always read


POOL = ALPHA_POOL.replace("  name: vllm\n", "  name: vllm   # the release\n", 1)


def test_a_change_inside_a_rewritten_entry_keeps_its_quoting_and_the_other_lines():
    document = split(POOL)[1]
    document.rewrite(("spec",), lambda pool: pool["spec"].update(targetPorts=[{"number": 8000}]))
    assert document.set(("spec", "extensionRef", "name"), "vllm-epp-ga")
    assert document.set(("metadata", "name"), "vllm-ga")
    text = document.text()
    assert SAFE.load(text)["spec"] == {
        "targetPortNumber": 8000,
        "selector": {"app": "vllm"},
        "extensionRef": {"name": "vllm-epp-ga"},
        "targetPorts": [{"number": 8000}],
    }
    assert '  app: "vllm"\n' in text and "  name: vllm-ga   # the release\n" in text
    assert text.startswith("---\n" + POOL[POOL.index("# Source") : POOL.index("metadata:")])
    assert '    app.kubernetes.io/version: "0.0.0"\n' in text


def test_what_is_read_off_the_text_is_never_older_than_a_change_waiting_to_be_applied():
    policy = split(
        "apiVersion: networking.gke.io/v1\nkind: GCPBackendPolicy\nmetadata:\n  name: vllm\nspec:\n  targetRef:\n    kind: InferencePool\n"
        '    name: "vllm"\n'
    )[0]
    assert policy.peek_mapping("spec", "targetRef") == {"kind": "InferencePool", "name": "vllm"}
    assert policy.set(("spec", "targetRef", "name"), "vllm-ga")  # a splice, the document still unparsed
    assert policy.peek("spec", "targetRef", "name") in (None, "vllm-ga")
    assert (policy.peek_mapping("spec", "targetRef") or {}).get("name") in (None, "vllm-ga")
    assert policy.data["spec"]["targetRef"]["name"] == "vllm-ga"
    assert '    name: "vllm-ga"\n' in policy.text()

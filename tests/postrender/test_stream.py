"""The stream's documents: split at `---` lines whatever the chunks stdin arrives in; values read off the text
without parsing (peek) are what a YAML library reads; edits keep every untouched byte."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from test_rewrites import ALPHA_POOL

from infgw_postrender.errors import InputError
from infgw_postrender.postrender import stream
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


# Sequences of mappings as chart templates write a Deployment's containers or a Role's rules: lists at their key's
# indentation or indented, block or flow, items plain or quoted; other entries nested under them.
flags = st.sampled_from(["--pool-name", "--pool-group", "-v", "--v=2", "--config-file", "--zap-encoder"])
list_items = st.one_of(words, flags, strings, st.integers(0, 99), st.sampled_from(["yes", "null", "registry/epp:v1.0"]))
items = st.fixed_dictionaries(
    {"name": words},
    optional={
        "args": st.lists(list_items, max_size=6),
        "image": st.one_of(words, st.sampled_from(["registry.k8s.io/epp:v1.0.0", "epp@sha256:ab", "7", "true"])),
        "ports": st.lists(st.fixed_dictionaries({"containerPort": st.integers(1, 9999)}), min_size=1, max_size=2),
        "verbs": st.lists(words, max_size=3),
    },
)


def as_template_writes(obj: dict, quote: str | None, sequence_indent: int, flow: bool) -> str:
    """Block YAML with the list indentation and flow lists of scalars that templates write (`args: ["a", "b"]`)."""
    yaml = YAML()
    yaml.indent(mapping=2, sequence=sequence_indent + 2, offset=sequence_indent)
    yaml.width = 4096

    def styled(value):
        from ruamel.yaml.comments import CommentedSeq
        from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

        if isinstance(value, dict):
            return {key: styled(item) for key, item in value.items()}
        if isinstance(value, list):
            made = CommentedSeq(styled(item) for item in value)
            if flow and value and all(not isinstance(item, (dict, list)) for item in value):
                made.fa.set_flow_style()
            return made
        if isinstance(value, str) and quote:
            return (DoubleQuotedScalarString if quote == '"' else SingleQuotedScalarString)(value)
        return value

    out = io.StringIO()
    yaml.dump(styled(obj), out)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(items, min_size=1, max_size=3),
    st.sampled_from([None, '"', "'"]),
    st.sampled_from([0, 2]),
    st.booleans(),
)
def test_items_read_off_the_text_are_what_yaml_reads_or_nothing(containers, quote, sequence_indent, flow):
    obj = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": containers}}}}
    text = as_template_writes(obj, quote, sequence_indent, flow)
    truth = SAFE.load(text)["spec"]["template"]["spec"]["containers"]
    found = split(text)[0].peek_items(("spec", "template", "spec", "containers"), ("args", "image", "verbs"))
    if found is None:
        return
    assert len(found) == len(truth), text
    for item, expected in zip(found, truth, strict=True):
        for field_name in ("args", "image", "verbs"):
            assert (field_name in item) == (field_name in expected), (field_name, text)
            if item.get(field_name) is not None:
                value = item[field_name].value
                assert value == (expected[field_name] if expected[field_name] != [] else value), (field_name, text)
                assert value is not None or expected[field_name] in (None, []), (field_name, text)


@settings(max_examples=250, deadline=None)
@given(
    st.lists(items, min_size=1, max_size=3),
    st.sampled_from([None, '"']),
    st.sampled_from([0, 2]),
    st.integers(0, 40),
    st.data(),
)
def test_a_list_item_replaced_off_the_text_reads_back_changed_and_nothing_else(containers, quote, indent, shift, data):
    """With a `shift`, the same block was read first in another document where it sits `shift` characters earlier:
    peek_items() remembers a block's reading by its text (a Role's rules recur in every release), and the change
    lands where this document has it."""
    obj = {"kind": "Deployment", "spec": {"template": {"spec": {"containers": containers}}}}
    text = as_template_writes(obj, quote, indent, flow=False)
    keys = ("spec", "template", "spec", "containers")
    read_first = None
    if shift:
        stream._ITEMS_READ.clear()  # the memo may be full after the other tests: this one reads from it
        read_first = split(text)[0].peek_items(keys, ("args",))
        text = f"metadata:\n  name: {'x' * shift}\n{text}"
    document = split(text)[0]
    found = document.peek_items(keys, ("args",))
    assert not shift or (found is None) == (read_first is None)
    readable = [
        (number, item["args"]) for number, item in enumerate(found or []) if item.get("args") and item["args"].spans
    ]
    if not readable:
        return
    number, args = data.draw(st.sampled_from(readable))
    position = data.draw(st.integers(0, len(args.value) - 1))
    new = data.draw(st.one_of(words, flags, strings))
    assert document.replace(args.spans[position], args.value[position], new) == (new != args.value[position])
    expected = SAFE.load(text)
    expected["spec"]["template"]["spec"]["containers"][number]["args"][position] = new
    assert SAFE.load(document.text()) == expected


@settings(max_examples=300, deadline=None)
@given(blocks, st.sampled_from([None, '"', "'"]), words, strings)
def test_an_entry_added_off_the_text_reads_back_added_and_nothing_else(metadata, quote, key, value):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"a": "b"}}
    text = as_chart_renders(obj, quote)
    document = split(text)[0]
    added = document.add_entry(("metadata", "annotations", key), value)
    expected = SAFE.load(text)
    annotations = expected["metadata"].get("annotations")
    if added is None:
        assert document.text() == text  # nothing spliced: the caller parses
        return
    if added is False:
        assert isinstance(annotations, dict) and key in annotations and document.text() == text
        return
    assert not (isinstance(annotations, dict) and key in annotations)
    if not isinstance(annotations, dict):
        expected["metadata"]["annotations"] = {}
    expected["metadata"]["annotations"][key] = value
    assert SAFE.load(document.text()) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.permutations(["apiVersion", "kind", "metadata"]),
    st.permutations(["name", "namespace", "labels"]),
    st.one_of(words, st.sampled_from(["yes", "null", "0123", "a b", "a\u2028b", "a\x85"])),
    st.one_of(st.none(), words, st.sampled_from(["on", "~"])),
    st.booleans(),
)
def test_a_document_is_identified_as_yaml_reads_it(order, metadata_order, name, namespace, trailing_newline):
    metadata = {"name": name, "namespace": namespace, "labels": {"app": "x"}}
    obj = {
        key: {field: metadata[field] for field in metadata_order if metadata[field] is not None}
        if key == "metadata"
        else {"apiVersion": "v1", "kind": "Service"}[key]
        for key in order
    }
    text = "# Source: chart/templates/x.yaml\n" + as_chart_renders(obj, None)
    text = text if trailing_newline else text.rstrip("\n")
    truth = SAFE.load(text)
    document = split(text)[0]
    try:
        assert document.identify()
    except Exception:  # a name that is not a string is refused, as the post-renderer refuses it
        assert not isinstance(truth["metadata"]["name"], str) or not isinstance(
            truth["metadata"].get("namespace", ""), str
        )
        return
    assert document.kind == "Service"
    assert document.name == truth["metadata"]["name"]
    assert document.namespace == truth["metadata"].get("namespace")


yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.floats(allow_nan=True), st.sampled_from(["", "1", "a"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "1"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(yaml_values, yaml_values)
def test_same_value_is_what_the_values_read_as_in_json(a, b):
    """Two values are the same when their JSON is (what the API server gets): True is not 1, 1 is not 1.0, key order
    counts; a value is the same as itself, and as its copy."""
    import copy
    import json

    from infgw_postrender.postrender.textual import same_value

    assert same_value(a, b) == (json.dumps(a) == json.dumps(b))
    assert same_value(a, copy.deepcopy(a))


def test_a_line_added_beside_in_a_block_seen_before_lands_in_each_document_at_its_own_place():
    """add_beside() remembers what it adds to a block by the block's text (a health check recurs in every
    release): the same block further down another document gets its line where that document has it."""
    stream._ADDED_BESIDE.clear()  # the memo may be full after the other tests
    config = "  default:\n    config:\n      type: HTTP\n      httpHealthCheck:\n          requestPath: /health\n          port:  8000\n"
    texts = [f"kind: HealthCheckPolicy\nmetadata:\n  name: {'p' * length}\nspec:\n{config}" for length in (1, 37)]
    for text in texts:
        document = split(text)[0]
        assert document.add_beside(("spec", "default", "config"), "port", "portSpecification", "USE_FIXED_PORT") == [
            "httpHealthCheck"
        ]
        expected = SAFE.load(text)
        expected["spec"]["default"]["config"]["httpHealthCheck"]["portSpecification"] = "USE_FIXED_PORT"
        assert SAFE.load(document.text()) == expected
        assert document.text().count("\n") == text.count("\n") + 1  # one line added, the others as they were


# A pool's top-level entries as templates and hands write them, the spec among them: some lines outside the spec
# that hide a `spec:` line at column 0 inside a scalar (quoted or flow, run on to the next line), comments, blank
# lines, an entry written twice.
HEADERS = [
    "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferencePool\n",
    "kind: InferencePool\napiVersion: 'inference.networking.x-k8s.io/v1alpha2'   # quoted\n",
    'apiVersion: "inference.networking.x-k8s.io/v1alpha2"\nkind: InferencePool\n',
    "apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferencePool\napiVersion: again\n",
]
OUTSIDE_SPEC = [
    'metadata:\n  name: vllm\n  labels:\n    app.kubernetes.io/version: "0.0.0"\n',
    'metadata:\n  name: vllm\n  annotations:\n    note: "a\nspec: {targetPortNumber: 1}"\n',
    "metadata:\n  name: vllm\n  annotations:\n    note: 'a\nspec: 1'\n",
    'metadata:\n  name: vllm\n  annotations:\n    note: "a\nspec:\n  targetPortNumber: 1"\n',
    "metadata:\n  name: vllm\n  tags: [a,\nspec]\n",
    "metadata:\n  name: vllm\n  annotations:\n    note: |\n      spec: not this one\n",
    "# a comment at the top level\n",
    "\n",
    "status:\n  parent: []\n",
    "spec2: x\n",
]
SPECS = [
    "spec:\n  targetPortNumber: 8000\n  selector:\n    app: vllm\n",
    'spec:\n  selector:\n    app: "vllm"   # quoted\n  targetPortNumber: 8000\n',
    "spec:\n  targetPortNumber: 8000\n\n  # trailing, inside\n",
    "spec:   \n  selector: {app: vllm}\n  list:\n  - a\n  - b\n",
    "spec: 5\n",
]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(OUTSIDE_SPEC), max_size=5),
    st.lists(st.sampled_from(SPECS), max_size=2),
    st.data(),
)
def test_an_entry_rewritten_unparsed_reads_back_as_the_change_and_nothing_else(outside, specs, data):
    at = data.draw(st.integers(0, len(outside)))
    text = data.draw(st.sampled_from(HEADERS)) + "".join(outside[:at] + specs + outside[at:])

    def change(obj):
        obj["apiVersion"] = "inference.networking.k8s.io/v1"
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec["endpointPickerRef"] = {"name": "vllm-epp"}
            spec.pop("targetPortNumber", None)
        return "done"

    try:
        truth = SAFE.load(text)
    except Exception:  # the document is malformed (a key twice): rewrite() refuses it as the parser does
        truth = None
    document = split(text)[0]
    if truth is None or not isinstance(truth, dict):
        with pytest.raises(InputError):
            document.rewrite(("apiVersion", "spec"), change)
        return
    assert document.rewrite(("apiVersion", "spec"), change) == "done"
    written = document.text()
    change(truth)
    assert SAFE.load(written) == truth, text
    if len(specs) == 1 and "#" not in specs[0] and not any("\nspec" in entry for entry in outside):
        # every other line is as it was, in its place (else ruamel.yaml's round trip rewrites them)
        start = text.index(specs[0])
        others = (text[:start] + text[start + len(specs[0]) :]).splitlines()
        lines = iter(written.splitlines())
        assert all(line in lines for line in others if not line.startswith("apiVersion:")), written

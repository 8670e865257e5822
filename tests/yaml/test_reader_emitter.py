"""The fast block-YAML reader and emitter agree with ruamel.yaml: on every fixture document, and on
generated documents. The reader may refuse (Unsupported) but never reads a value differently."""

from __future__ import annotations

import pytest
from conftest import CHART_VARIANTS, FIXTURES
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from infgw_postrender.postrender.stream import split
from infgw_postrender.yaml import emitter, reader

SAFE = YAML(typ="safe", pure=True)


def ruamel_value(text: str):
    return SAFE.load(text)


def fixture_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted(FIXTURES.rglob("*.yaml")):
        for document in split(path.read_text()):
            if not document.is_empty:
                texts.append((f"{path.relative_to(FIXTURES)}#{document.index}", document.body))
    return texts


def test_reads_fixture_documents_as_ruamel_does():
    """CRDs and values files may be refused (multi-line descriptions); what is read is read right, and
    upstream's example objects (plain block YAML, like what users export) are all read."""
    for name, text in fixture_texts():
        try:
            value, _ = reader.parse(text)
        except reader.Unsupported:
            assert not name.startswith("objects/"), name
            continue
        assert value == ruamel_value(text), name


@pytest.mark.parametrize("variant", list(CHART_VARIANTS))
def test_reads_every_rendered_chart_document(helm3, variant):
    chart, extra = CHART_VARIANTS[variant]
    for document in split(helm3.template("r", chart, *extra, "--set", "provider.name=gke")):
        if document.is_empty:
            continue
        value, _ = reader.parse(document.body)  # every document Helm renders is in the subset
        assert value == ruamel_value(document.body), document.source


def test_splice_keeps_the_rest_of_the_text():
    text = (
        '# Source: x\nmetadata:\n  name: "old"  # keep me\n  labels: {a: b}\nspec:\n  args:\n  - --pool-name\n  - old\n'
    )
    value, spans = reader.parse(text)
    name = spans[id(value["metadata"])]["name"]
    arg = spans[id(value["spec"]["args"])][1]
    assert text[name.start : name.end] == '"old"' and name.style == '"'
    assert text[arg.start : arg.end] == "old"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(
        [
            "true",
            "null",
            "8000",
            "0.0.0",
            "v1.0.0",
            "a: b",
            "- x",
            "#c",
            "'q'",
            '"d"',
            "",
            " ",
            "yes",
            "0x1F",
            "inference.networking.k8s.io",
            "{release}",
            "$(rm -rf /)",
            "é",
            "a\nb",
            "1e3",
            "1.2.0",
            "0123",
            "1_000",
            "0o17",
            "1:20",
            ".5",
            "+1",
            "-0",
            "0.",
            "1.",
            "+.5e-3",
            ".inf",
            "-.Inf",
            ".NaN",
            "0x",
            "1.0e+3",
            "~",
            "Null",
            "TRUE",
            "on",
            "off",
            "y",
            "n",
        ]
    ),
)
keys = st.one_of(
    st.from_regex(r"[a-z][a-zA-Z0-9./-]{0,15}", fullmatch=True), st.sampled_from(["a b", "true", "1", "k: v", "-x"])
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, trees, min_size=1, max_size=5))
def test_emitted_yaml_reads_back_the_same(obj):
    text = emitter.dump(obj)
    assert ruamel_value(text) == obj
    try:
        value, _ = reader.parse(text)
    except reader.Unsupported:
        return
    assert value == obj


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, trees, min_size=1, max_size=5), st.sampled_from([(2, 2, 0), (2, 4, 2), (4, 4, 2)]))
def test_reader_agrees_with_ruamel_on_ruamel_block_output(obj, indents):
    import io

    emitter = YAML()
    emitter.indent(mapping=indents[0], sequence=indents[1], offset=indents[2])
    out = io.StringIO()
    emitter.dump(obj, out)
    text = out.getvalue()
    try:
        value, _ = reader.parse(text)
    except reader.Unsupported:
        return
    assert value == ruamel_value(text), text


def test_a_file_is_read_as_ruamel_reads_it_whichever_reader_reads_it(tmp_path):
    """load_file_documents: a backup as this tool writes it (one block document under its header line) is read by
    the fast reader; several documents, or an anchor, by ruamel.yaml. The items are ruamel's either way."""
    from infgw_postrender.cluster.state import ClusterIdentity, StateKey, write_items
    from infgw_postrender.yaml.roundtrip import load_file_documents

    objects = [doc for doc in SAFE.load_all((FIXTURES / "objects" / "v0.3.0-inferencemodels.yaml").read_text()) if doc]
    backup = tmp_path / "backup.yaml"
    write_items(
        backup,
        StateKey(ClusterIdentity("uid", "https://127.0.0.1:6443", "ctx"), "default", "pool"),
        "backup",
        objects,
        "--backup",
    )
    two = tmp_path / "two.yaml"
    two.write_text("a: 1\n---\nb: [2]\n")
    anchored = tmp_path / "anchored.yaml"
    anchored.write_text("kind: List\nitems:\n- &x {a: 1}\n- *x\n")
    for path, fast in ((backup, True), (two, False), (anchored, False)):
        items = load_file_documents(str(path), "--file")
        expected = [doc for doc in SAFE.load_all(path.read_text()) if doc]
        if len(expected) == 1 and expected[0].get("kind") == "List":
            expected = expected[0]["items"]
        assert items == expected, path.name
        assert (type(items[0]) is dict) == fast, f"{path.name}: read by {'ruamel' if fast else 'the fast reader'}"


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(keys, st.sampled_from(["\x1f", "a\x85", "\u2028"])),
    st.one_of(trees, st.dictionaries(st.sampled_from(["\x1f", "k"]), trees)),
)
def test_what_the_emitter_writes_exactly_reads_back_exactly(key, value):
    """Where emitter.exactly_written() says so, a rewrite splices the emitted entry without reading it back: the
    reader and ruamel.yaml must then read exactly the value (types and key order too)."""
    from infgw_postrender.postrender.textual import same_value

    if not (emitter.exactly_written(key) and emitter.exactly_written(value)):
        return
    text = emitter.dump_entry(emitter.scalar_text(key, "plain"), value) + "\n"
    read, _ = reader.parse(text)  # never Unsupported
    assert list(read) == [key] and same_value(read[key], value), text
    assert same_value(ruamel_value(text)[key], value), text

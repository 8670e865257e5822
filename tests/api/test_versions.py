"""Our SemVer parser against the semver package's (a test dependency: the runtime no longer imports it, issue 33):
the same strings accepted, read back the same, and ordered the same."""

from __future__ import annotations

import semver
from hypothesis import example, given
from hypothesis import strategies as st

from infgw_postrender.api.versions import Version, parse_version

_NUMBER = st.one_of(
    st.sampled_from(["0", "1", "9", "10", "01", "00", "123456789012345678901"]),
    st.from_regex(r"[0-9]{1,4}", fullmatch=True),
)
_IDENTIFIER = st.one_of(
    _NUMBER, st.from_regex(r"[0-9a-zA-Z-]{1,6}", fullmatch=True), st.sampled_from(["rc", "alpha", "beta", "-", "0a"])
)
_DOTTED = st.lists(_IDENTIFIER, min_size=1, max_size=4).map(".".join)


@st.composite
def _version_texts(draw: st.DrawFn) -> str:
    text = ".".join(draw(st.lists(_NUMBER, min_size=2, max_size=4)))
    if draw(st.booleans()):
        text += "-" + draw(_DOTTED)
    if draw(st.booleans()):
        text += "+" + draw(_DOTTED)
    return text


_TEXTS = st.one_of(_version_texts(), st.text(alphabet="0123456789.-+abrcé٣ \n", max_size=12))


def _theirs(text: str) -> semver.Version | None:
    try:
        return semver.Version.parse(text)
    except ValueError:
        return None


def _ours(text: str) -> Version | None:
    try:
        return Version(text)
    except ValueError:
        return None


@given(_TEXTS)
@example("1.2.3-rc.1+build.5")
@example("1.0.0-0a.1")
@example("1.0.0\n")
@example("1." + "1" * 300 + ".0")
def test_the_same_strings_are_versions_and_read_back_the_same(text):
    ours, theirs = _ours(text), _theirs(text)
    assert (ours is None) == (theirs is None), text
    if ours is not None:
        assert str(ours) == str(theirs) == text
        assert (ours.major, ours.minor, ours.patch, ours.prerelease, ours.build) == theirs.to_tuple()


@given(_version_texts(), _version_texts())
@example("1.0.0-alpha", "1.0.0-alpha.1")
@example("1.0.0-alpha.beta", "1.0.0-beta")
@example("1.0.0-2", "1.0.0-11")
@example("1.0.0-rc.1", "1.0.0")
@example("1.0.0+a", "1.0.0+b")
def test_ordered_as_semver_orders_them(first, second):
    ours, theirs = (_ours(first), _ours(second)), (_theirs(first), _theirs(second))
    if None in theirs:
        return
    assert None not in ours
    expected = theirs[0].compare(theirs[1])
    assert ((ours[0] > ours[1]) - (ours[0] < ours[1])) == expected, (first, second)
    assert (ours[0] == ours[1]) == (expected == 0)
    assert (ours[0] <= ours[1]) == (expected <= 0) and (ours[0] >= ours[1]) == (expected >= 0)
    if expected == 0:
        assert hash(ours[0]) == hash(ours[1])


def test_semver_orders_the_spec_example_so():
    """semver.org's own example of precedence, item 11."""
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11"]
    ordered += ["1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]
    assert sorted(map(Version, reversed(ordered))) == list(map(Version, ordered))
    assert parse_version("v1.3.0") == Version("1.3.0") and parse_version("v1.3.0") < parse_version("1.10.0")

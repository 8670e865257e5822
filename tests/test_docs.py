"""Issue 32.2: the README a newcomer can finish, and the reference in docs/: every relative link and anchor
resolves, and every `helm infgw-migrate` / `infgw-migrate` / `infgw-postrender` command line in a shell block of
docs/ parses with the CLI as written (as test_help_examples checks the --help examples)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from command_lines import parses
from conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to dashes."""
    found = set()
    fenced = False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def links() -> list[tuple[str, str]]:
    return [(page.name, target) for page in PAGES for target in LINK.findall(page.read_text())
            if not re.match(r"[a-z]+://|mailto:", target)]  # fmt: skip


def test_the_readme_reads_in_ten_minutes():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 300, len(lines)
    assert "bash scripts/try-it" in "\n".join(lines[:60]), "try-it is on the first screen"


@pytest.mark.parametrize("page, target", links(), ids=[f"{p}:{t}" for p, t in links()])
def test_each_relative_link_and_anchor_resolves(page, target):
    source = next(p for p in PAGES if p.name == page)
    path, _, anchor = target.partition("#")
    resolved = (source.parent / path).resolve() if path else source
    assert resolved.exists(), f"{page}: {target} names no file"
    if anchor:
        assert anchor in anchors(resolved), f"{page}: #{anchor} is no heading of {resolved.name}"


def test_every_page_is_reachable_from_the_readme():
    named = {Path(target.partition("#")[0]).name for page, target in links() if page == "README.md"}
    assert {page.name for page in PAGES if page.parent.name == "docs"} <= named


def command_lines() -> list[tuple[str, str]]:
    """(page, the command after the program's name) of each shell block line that runs the tool."""
    found = []
    for page in PAGES:
        for block in re.findall(r"```sh\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = re.split(r"\s#\s|\s+#\s*$", line)[0].strip()
                if line.startswith(("#", "source", "python3 -m venv")):
                    continue
                # the program where a shell runs it: a line's start, after && | ; or in $( ), by path or not
                match = re.search(r"(?:^|&&\s*|\|\s*|;\s*|\$\()(?:\S*/)?(helm infgw-migrate|infgw-migrate|"
                                  r"infgw-postrender)\s([^)]*)", line)  # fmt: skip
                if match:
                    found.append((page.name, f"{match.group(1)} {match.group(2)}"))
    return found


@pytest.mark.parametrize("page, line", command_lines(), ids=[f"{p}:{c[:50]}" for p, c in command_lines()])
def test_each_command_example_parses(page, line):
    words = shlex.split(line.replace("[--delete-crds]", "--delete-crds"))
    program = words.pop(0) if words[0] != "helm" else " ".join(words.pop(0) for _ in range(2))
    parses("infgw-postrender" if program == "infgw-postrender" else "infgw-migrate", words)

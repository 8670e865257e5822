"""Files the cluster commands write and later trust (the alpha backup, the InferenceModels export). Each is keyed
by kube context, namespace and pool, in its name and in its first line, and is trusted only when that line
matches. They may hold Secrets (Helm's release records, the EPP's token), so each is written as one: mode 0600
(its folder 0700 when this tool makes it), to a temporary file renamed into place, the folder synced after."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from infgw_postrender.api.objects import as_list
from infgw_postrender.errors import InputError
from infgw_postrender.yaml import emitter
from infgw_postrender.yaml.roundtrip import load_file_documents


@dataclass(frozen=True)
class StateKey:
    context: str
    namespace: str
    pool: str

    def header(self, what: str) -> str:
        return f"# infgw-migrate {what}: context={self.context} namespace={self.namespace} pool={self.pool}\n"

    def path(self, folder: str | Path, what: str) -> Path:
        context = re.sub(r"[^A-Za-z0-9._-]", "_", self.context)
        return Path(folder) / f"{context}.{self.namespace}.{self.pool}.{what}.yaml"


def write_items(path: str | Path, key: StateKey, what: str, items: list[dict], flag: str) -> None:
    """A `kind: List` of `items` under the key's header line."""
    text = key.header(what) + emitter.dump(as_list(items))
    write_private(Path(path), text, flag)


def read_items(path: str | Path, key: StateKey, what: str, flag: str) -> list[dict] | None:
    """The items of a file this tool wrote for `key`; None when there is no such file. A file written for
    another context, namespace or pool (or not by this tool) is refused, never trusted."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:
            first = handle.readline()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(
            f"{flag} {path}: cannot read it ({exc.strerror}); nothing was changed in the cluster"
        ) from None
    if first != key.header(what):
        found = first.strip() if first.startswith("# infgw-migrate ") else "no infgw-migrate header"
        raise InputError(
            f"{flag} {path}: written for another migration ({found}), not for context={key.context} "
            f"namespace={key.namespace} pool={key.pool}; pass another path"
        )
    return [item for item in load_file_documents(str(path), flag) if isinstance(item, dict)]


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

"""The Helm binary the user runs (HELM_BIN), its major version, and its plugin folders."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass

from infgw_postrender.cluster import debug
from infgw_postrender.cluster.kube import forget_reads, in_burst, once
from infgw_postrender.errors import MigrateError


class HelmError(MigrateError):
    """Helm could not be run or refused a command."""


def context_args(context: str | None) -> list[str]:
    """`--kubeconfig` and `--kube-context`, when asked for, as Helm and this tool's commands take them."""
    from infgw_postrender.cluster.kube import kubeconfig_args

    return [*kubeconfig_args(), *(["--kube-context", context] if context else [])]


# Helm commands that change nothing in the cluster (a post-renderer under `template` reads it, at most)
_READS_ONLY = frozenset({"version", "list", "ls", "status", "get", "history", "show", "template", "env", "search"})
# Of those, what a migration asks again within one judgement (a release's status, manifest and values): answered
# once per burst of reads, as kubectl's reads are (kube.in_burst)
_ANSWERED_AGAIN = frozenset({"status", "get"})


@dataclass(frozen=True)
class Helm:
    binary: str

    @classmethod
    def from_env(cls) -> Helm:
        return cls(os.environ.get("HELM_BIN") or "helm")

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        if args[0] in _ANSWERED_AGAIN:
            done = in_burst((self.binary, *args), lambda: self._start(args))
        else:
            if args[0] not in _READS_ONLY:
                forget_reads()  # an install, upgrade or uninstall changes the cluster: later reads read it again
            done = self._start(args)
        if check and done.returncode != 0:
            message = " ".join((done.stderr or done.stdout).split()) or f"exit status {done.returncode}"
            raise HelmError(f"helm {' '.join(args[:3])}: {message}")
        return done

    def _start(self, args: tuple[str, ...]) -> subprocess.CompletedProcess:
        debug.echo([self.binary, *args])
        try:
            return subprocess.run([self.binary, *args], capture_output=True, text=True)
        except OSError as exc:
            raise HelmError(
                f"helm ({self.binary}): cannot run it ({exc.strerror}); install Helm or set HELM_BIN"
            ) from None

    def major(self) -> int:
        version = once(
            (self.binary, "version"), lambda: self.run("version", "--template", "{{.Version}}").stdout.strip()
        )
        found = re.match(r"v?(\d+)\.", version)
        if not found:
            raise HelmError(f"helm ({self.binary}) reported version {version!r}; expected v3.x or v4.x")
        return int(found.group(1))

    def env(self) -> dict[str, str]:
        values = {}
        for line in self.run("env").stdout.splitlines():
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
        return values

    def status(self, release: str, namespace: str, context: str | None) -> dict | None:
        """`helm status -o json` of the release, or None when Helm knows no such release."""
        done = self.run("status", release, "-n", namespace, "-o", "json", *context_args(context), check=False)
        return json.loads(done.stdout or "{}") if done.returncode == 0 else None

    def release_status(self, release: str, namespace: str, context: str | None) -> str | None:
        """deployed, failed, pending-install...; None when Helm knows no such release."""
        status = self.status(release, namespace, context)
        return None if status is None else (status.get("info") or {}).get("status")

    def plugin_names(self) -> list[str]:
        lines = self.run("plugin", "list").stdout.splitlines()[1:]
        return [line.split()[0] for line in lines if line.strip()]

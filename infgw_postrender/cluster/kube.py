"""The cluster, through the user's own kubectl (its configuration, context and auth plugin). Arguments go as
lists, never through a shell; a failure is one line that names the step."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from infgw_postrender.api.mapping import api
from infgw_postrender.api.objects import as_list
from infgw_postrender.cluster import debug, waits
from infgw_postrender.errors import InputError, MigrateError

T = TypeVar("T")
ALL_NAMESPACES = "*"
_READ_ONCE: dict[tuple, Any] = {}
# Reads answered again within one burst of reads (kubectl's and Helm's). A step's done-test, its own checks and the shift's safety check
# read the same route and pools milliseconds apart, and each kubectl start costs its auth plugin on GKE. A burst
# ends at anything that may change the cluster or lets time pass: a write of ours (forget_reads), a child process
# (Helm, a step's kubectl), every sleep (waits.sleep: each poll of a wait reads afresh), and BURST_SECONDS on the
# waits' clock. So every judgement is still made from the cluster, read once for it.
BURST_SECONDS = 5.0
_BURST: dict[tuple, tuple[float, Any]] = {}
_KUBECONFIG_FLAG: list[str] = []  # the --kubeconfig this process was given, if any


def use_kubeconfig(path: str) -> None:
    """--kubeconfig: kubectl and Helm read KUBECONFIG, and the commands this tool prints name the file."""
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise InputError(f"--kubeconfig {path}: {'cannot read it' if os.path.exists(path) else 'no such file'}; "
                         "give the kubeconfig file to use")  # fmt: skip
    os.environ["KUBECONFIG"] = path
    _KUBECONFIG_FLAG[:] = [path]


def kubeconfig_args() -> list[str]:
    """`--kubeconfig FILE` for a printed command (kubectl, Helm and this tool take it alike), when one was given."""
    return ["--kubeconfig", _KUBECONFIG_FLAG[0]] if _KUBECONFIG_FLAG else []


class ClusterError(MigrateError):
    """kubectl could not do a step; the cluster is as the step left it (nothing half-applied by us)."""


class NotFound(ClusterError):
    pass


class Conflict(ClusterError):
    """The object changed since it was read (resourceVersion), or already exists."""


@dataclass
class Kubectl:
    binary: str = "kubectl"
    context: str | None = None
    namespace: str | None = None
    request_timeout: str = "30s"

    @classmethod
    def from_options(cls, context: str | None, namespace: str | None) -> Kubectl:
        """Flags first, then Helm's variables (a plugin runs with HELM_KUBECONTEXT and HELM_NAMESPACE set)."""
        return cls(
            os.environ.get("KUBECTL") or "kubectl",
            context or os.environ.get("HELM_KUBECONTEXT") or None,
            namespace or os.environ.get("HELM_NAMESPACE") or None,
            os.environ.get("INFGW_REQUEST_TIMEOUT") or "30s",
        )

    @property
    def default_namespace(self) -> str:
        return self.namespace or "default"

    def run(self, args: list[str], step: str, input: str | None = None, changes: bool = True) -> str:
        """kubectl's stdout; its failure as the exception that says what it means (NotFound, Conflict). A read
        asked again within its burst (_BURST) gets the same answer; anything else ends the burst, unless it
        `changes` nothing in the cluster (an access review is created, never stored; the server's version)."""
        if args[0] != "get":
            if changes:
                forget_reads()
            return self._run(args, step, input)

        def read() -> str | NotFound:
            try:
                return self._run(args, step, input)
            except NotFound as missing:  # an absence is an answer too (find() asks again)
                return missing

        answer = in_burst((self.binary, self.context, *args, input), read)
        if isinstance(answer, NotFound):
            raise NotFound(f"{step}: {str(answer).split(': ', 1)[-1]}")
        return answer

    def _run(self, args: list[str], step: str, input: str | None) -> str:
        command = [self.binary, f"--request-timeout={self.request_timeout}"]
        if self.context:
            command.append(f"--context={self.context}")
        debug.echo(command + args)
        try:
            done = self.invoke(command + args, input)
        except OSError as exc:
            raise ClusterError(
                f"{step}: cannot run {self.binary} ({exc.strerror}); install kubectl or set KUBECTL"
            ) from None
        if done.returncode != 0:
            message = _one_line(done.stderr or done.stdout) or f"kubectl exited with status {done.returncode}"
            missing = ("NotFound", "not found", "doesn't have a resource type")
            kind = NotFound if any(text in message for text in missing) else ClusterError
            if "Conflict" in message or "AlreadyExists" in message or "the object has been modified" in message:
                kind = Conflict
            raise kind(f"{step}: {message}")
        return done.stdout

    def invoke(self, command: list[str], input: str | None) -> subprocess.CompletedProcess:
        """The one place kubectl runs (the fast tier's in-memory cluster answers here instead)."""
        return subprocess.run(command, capture_output=True, text=True, input=input)

    def _scope(self, namespace: str | None) -> list[str]:
        if namespace == ALL_NAMESPACES:
            return ["--all-namespaces"]
        return [f"--namespace={namespace or self.default_namespace}"]

    def get(
        self,
        resources: list[str],
        step: str,
        namespace: str | None = None,
        name: str | None = None,
        selector: str | None = None,
    ) -> list[dict]:
        """Objects of several resource types in one call (`kubectl get a,b,c -o json`)."""
        args = [
            "get",
            ",".join(map(_qualified, resources)),
            *([name] if name else []),
            *self._scope(namespace),
            "-o",
            "json",
        ]
        args += [f"--selector={selector}"] if selector else []
        found = json.loads(self.run(args, step) or "{}")
        return found.get("items", [found] if found.get("kind") else [])

    def get_one(self, resource: str, name: str, namespace: str | None, step: str) -> dict:
        return self.get([resource], step, namespace, name)[0]

    def find(self, resource: str, name: str, namespace: str | None, step: str) -> dict | None:
        """The object, or None when it does not exist."""
        try:
            return self.get_one(resource, name, namespace, step)
        except NotFound:
            return None

    def current_context(self) -> str:
        """The context in force: the one asked for, else the kubeconfig's current one."""
        if self.context:
            return self.context
        return self._once(["config", "current-context"], "read the kubeconfig's current context").strip() or "none"

    def server_version(self) -> str:
        found = json.loads(self._once(["version", "-o", "json"], "read the server version"))
        return (found.get("serverVersion") or {}).get("gitVersion") or ""

    def _once(self, args: list[str], step: str) -> str:
        return once((self.binary, self.context, *args), lambda: self.run(args, step, changes=False))

    def apply(self, manifests: str, step: str, dry_run: bool = False) -> str:
        args = ["apply", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
        return self.run(args, step, input=manifests)

    def create(self, manifests: str, step: str) -> str:
        return self.run(["create", "-f", "-"], step, input=manifests)

    def patch_json(self, resource: str, name: str, namespace: str | None, operations: list[dict], step: str) -> dict:
        """A JSON patch; a failed `test` operation (the API server answers 422 with no detail) is a Conflict."""
        args = [
            "patch",
            _qualified(resource),
            name,
            *self._scope(namespace),
            "--type=json",
            "-p",
            json.dumps(operations),
            "-o",
            "json",
        ]
        try:
            return json.loads(self.run(args, step))
        except ClusterError as error:
            tested = any(operation["op"] == "test" for operation in operations)
            if tested and not isinstance(error, Conflict) and "rejected our request due to an error" in str(error):
                raise Conflict(f"{step}: it changed since it was read (the patch's test failed)") from None
            raise

    def patch_merge(self, resource: str, name: str, namespace: str | None, patch: dict, step: str) -> None:
        """A JSON merge patch (RFC 7386): what it names is set, everything else is kept."""
        args = ["patch", _qualified(resource), name, *self._scope(namespace), "--type=merge", "-p", json.dumps(patch)]
        self.run([*args, "-o", "name"], step)

    def get_listed(self, manifests: str, step: str) -> list[dict]:
        """The live objects a manifest names (`kubectl get -f -`), those that exist."""
        found = json.loads(
            self.run(["get", "-f", "-", "--ignore-not-found", "-o", "json"], step, input=manifests) or "{}"
        )
        return found.get("items", [found] if found.get("kind") else [])

    def delete_listed(self, objects: list[dict], step: str) -> None:
        """Delete these objects in one call, in their order; those already gone are fine."""
        self.run(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], step, input=references(objects))

    def crds(self) -> list[dict]:
        return self.get([api().cluster.resources.crd], "list the CRDs", ALL_NAMESPACES)


def once(key: tuple, read: Callable[[], T]) -> T:
    """What cannot change while this process runs (the kubeconfig's context, the server's version, Helm's
    version): read once per key and kubeconfig (migrate runs its steps in this process, and each step asks again)."""
    key = (os.environ.get("KUBECONFIG"), *key)
    if key not in _READ_ONCE:
        _READ_ONCE[key] = read()
    return _READ_ONCE[key]


def in_burst(key: tuple, read: Callable[[], T]) -> T:
    """`read()`'s answer, or the one it gave for the same key (a command line, with the kubeconfig in force)
    within this burst of reads."""
    key = (os.environ.get("KUBECONFIG"), *key)
    now = waits.clock.monotonic()
    kept = _BURST.get(key)
    if kept is None or now - kept[0] > BURST_SECONDS:
        kept = _BURST[key] = (now, read())
    return kept[1]


def forget_reads() -> None:
    """End the burst of reads (Kubectl.run): what is read next comes from the cluster."""
    _BURST.clear()


def references(objects: list[dict]) -> str:
    """A List naming these objects (kind, namespace, name) and nothing else, for `kubectl ... -f -`."""
    return json.dumps(
        as_list(
            [
                {
                    "apiVersion": o["apiVersion"],
                    "kind": o["kind"],
                    "metadata": {k: v for k, v in o["metadata"].items() if k in ("name", "namespace")},
                }
                for o in objects
            ]
        )
    )


def _qualified(resource: str) -> str:
    return api().cluster.qualified(resource)


def _one_line(text: str) -> str:
    """kubectl's message without its `error:` prefix or Go stack noise, on one line, with no credentials."""
    lines = [line for line in text.splitlines() if line.strip() and not re.match(r"^[IWE]\d{4} ", line)]
    errors = [line for line in lines if line.startswith(("Error from server", "error: unable to recognize"))]
    if len(errors) > 1:  # one per object of a multi-object call: the first says it, the rest are counted
        lines = [errors[0], f"(and {len(errors) - 1} more like it)"]
    message = " ".join(" ".join(lines).split()).removeprefix("error: ").removeprefix("Error from server ")
    return re.sub(r"(?i)(bearer|token[=:]?)\s*\S+", r"\1 [redacted]", message)

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
from infgw_postrender.cluster import clock, debug
from infgw_postrender.errors import InputError, MigrateError

T = TypeVar("T")
ALL_NAMESPACES = "*"
_LACKED = "doesn't have a resource type"  # kubectl's words for a kind the server does not serve
# ... and for one its discovery cache still lists after the CRD went (a real server, kubectl 1.35): `Error from
# server (NotFound): Unable to list "GROUP/VERSION, Resource=PLURAL": the server could not find the requested
# resource`. Taken for "not found", it stranded the simple path once its alpha CRDs were deleted (issue 31.4).
_UNLISTED = re.compile(r'Unable to list "[^"]*, Resource=([^"]+)": the server could not find the requested resource')
_READ_ONCE: dict[tuple, Any] = {}
# Reads answered again within one burst of reads (kubectl's and Helm's). A step's done-test, its own checks and the
# shift's safety check read the same route and pools milliseconds apart, and each kubectl start costs its auth
# plugin on GKE. A burst
# ends at anything that may change the cluster or lets time pass: a write of ours (forget_reads), a child process
# (Helm, a step's kubectl), every sleep (waits.sleep: each poll of a wait reads afresh), and BURST_SECONDS on the
# clock (clock.current). So every judgement is still made from the cluster, read once for it.
BURST_SECONDS = 5.0
_BURST: dict[tuple, tuple[float, Any]] = {}
_KUBECONFIG_FLAG: list[str] = []  # the --kubeconfig this process was given, if any
# Kinds read together (mapping.yaml read_together) that this server lacked: read one by one instead, until such
# a read finds the kind served (the CRD step installed it)
_UNSERVED: set[str] = set()
# (kubectl, context, namespace) where a read together was forbidden (a user whose Role lets them get objects of
# one namespace, not list kinds or read GatewayClasses): each object is read on its own there, as asked
_ALONE: set[tuple] = set()


def use_kubeconfig(path: str) -> None:
    """--kubeconfig: kubectl and Helm read KUBECONFIG, and the commands this tool prints name the file."""
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise InputError(f"--kubeconfig {path}: {'cannot read it' if os.path.exists(path) else 'no such file'}; "
                         "give the kubeconfig file to use")  # fmt: skip
    os.environ["KUBECONFIG"] = path
    _KUBECONFIG_FLAG[:] = [path]


def check_kubeconfig() -> None:
    """Before anything is read: every file KUBECONFIG names (Helm sets it from its own --kubeconfig) exists.
    kubectl would take a missing one for an empty configuration and try localhost:8080."""
    for path in filter(None, (os.environ.get("KUBECONFIG") or "").split(os.pathsep)):
        if not os.path.isfile(path):
            raise InputError(f"KUBECONFIG {path}: no such file; pass --kubeconfig with the kubeconfig file to use "
                             "(or set KUBECONFIG to it)")  # fmt: skip


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
            if changes and input and "CustomResourceDefinition" in input:
                _crds_written(input, deleted=args[0] == "delete")
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
            missing = ("NotFound", "not found", _LACKED)
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
        """Objects of several resource types in one call (`kubectl get a,b,c -o json`). One object, or all of one
        kind, of the kinds read together in a namespace comes from their one read of this burst (_read_together)."""
        if len(resources) == 1 and selector is None and namespace != ALL_NAMESPACES:
            together = self._read_together(resources[0], namespace or self.default_namespace, step)
            if together is not None and name is None:
                return together
            if together is not None:
                named = [obj for obj in together if obj["metadata"]["name"] == name]
                if not named:
                    raise NotFound(f'{step}: (NotFound): {resources[0]} "{name}" not found')
                return named
        args = [
            "get",
            ",".join(map(_qualified, resources)),
            *([name] if name else []),
            *self._scope(namespace),
            "-o",
            "json",
        ]
        args += [f"--selector={selector}"] if selector else []
        try:
            found = json.loads(self.run(args, step) or "{}")
        except NotFound as missing:
            if _UNSERVED and not _lacks(str(missing)):
                _UNSERVED.difference_update(_keys_of(resources))  # no such object, but the kind is served now
            raise
        _UNSERVED.difference_update(_keys_of(resources))
        return found.get("items", [found] if found.get("kind") else [])

    def _read_together(self, resource: str, namespace: str, step: str) -> list[dict] | None:
        """The objects of `resource` in `namespace` from the one read of the kinds read together in this burst;
        None when it is not one of them, or the server lacks it (then it is read on its own)."""
        key = _keys_of([resource])
        burst = (self.binary, self.context, "read together", namespace)
        if key and key[0] in _UNSERVED:
            kept = _kept(burst)
            if kept and kept[1] and resource in kept[1]:  # found lacking by this very read together
                raise NotFound(f'{step}: the server {_LACKED} "{resource.partition(".")[0]}"')
            return None  # read on its own: it may be served by now
        if not key or (self.binary, self.context, namespace) in _ALONE:
            return None
        together = in_burst(burst, lambda: self._together(namespace, step))
        return None if together is None else together.get(resource)

    def _together(self, namespace: str, step: str) -> dict[str, list[dict] | None] | None:
        """`kubectl get a,b,c --namespace NS -o json` of the kinds read together, by resource (None: the server
        lacks it). A kind the server lacks fails the whole call, and kubectl names only the first such one, by its
        plural: that one is left out (and kept in _UNSERVED) and the rest read again. None: forbidden (_ALONE)."""
        table = api().cluster
        wanted = [key for key in table.read_together if key not in _UNSERVED]
        lacking: set[str] = set()
        while wanted:
            names = [getattr(table.resources, key) for key in wanted]
            args = ["get", ",".join(map(_qualified, names)), f"--namespace={namespace}", "-o", "json"]
            try:
                items = json.loads(self.run(args, step) or "{}").get("items", [])
            except NotFound as missing:
                lacked = _lacked(str(missing), wanted)
                if not lacked:  # a list failed otherwise: not an absence of any one object
                    raise ClusterError(str(missing)) from None
                _UNSERVED.update(lacked)
                wanted = [key for key in wanted if key not in lacked]
                lacking.update(getattr(table.resources, key) for key in lacked)
                continue
            except ClusterError as refused:
                if "Forbidden" not in str(refused):
                    raise
                _ALONE.add((self.binary, self.context, namespace))
                return None
            kinds = {
                (table.api_version(key), table.read_together[key]): name
                for key, name in zip(wanted, names, strict=True)
            }
            found: dict[str, list[dict]] = {name: [] for name in names}
            for item in items:
                if (item.get("apiVersion"), item.get("kind")) in kinds:
                    found[kinds[item["apiVersion"], item["kind"]]].append(item)
            return {**found, **dict.fromkeys(lacking)}
        return dict.fromkeys(lacking)

    def get_named(self, named: list[tuple[str, str, str, str]], step: str) -> list[dict]:
        """The live objects of these (apiVersion, kind, namespace, name), those that exist: from the reads
        together when they hold every one, else in one `kubectl get -f -`."""
        table = api().cluster
        by_kind = {(table.api_version(key), kind): key for key, kind in table.read_together.items()}
        found = []
        for api_version, kind, namespace, name in named:
            key = by_kind.get((api_version, kind))
            try:
                together = self._read_together(getattr(table.resources, key), namespace, step) if key else None
            except NotFound:  # the server lacks its kind (found by this very read together): no such object
                continue
            if together is None:
                listed = [{"apiVersion": a, "kind": k, "metadata": {"namespace": n, "name": o}} for a, k, n, o in named]
                return self.get_listed(references(listed), step)
            found += [obj for obj in together if obj["metadata"]["name"] == name]
        return found

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
        return self.context or self._kubeconfig_view().get("current-context") or "none"

    def server_url(self) -> str:
        """The API server's URL, as the kubeconfig gives it for the context in force."""
        clusters = self._kubeconfig_view().get("clusters") or [{}]
        return (clusters[0].get("cluster") or {}).get("server") or "none"

    def cluster_uid(self) -> str:
        """The uid of the kube-system Namespace: the usual cluster ID, which no other cluster shares (a context's
        name may: `admin`, `default`)."""
        step = "read the cluster's identity (the kube-system Namespace's uid)"
        found = once(
            (self.binary, self.context, "cluster uid"), lambda: self.get_one("namespaces", "kube-system", None, step)
        )
        return found["metadata"]["uid"]

    def _kubeconfig_view(self) -> dict:
        return json.loads(self._once(["config", "view", "--minify", "-o", "json"], "read the kubeconfig") or "{}")

    def server_version(self) -> str:
        found = json.loads(self._once(["version", "-o", "json"], "read the server version"))
        return (found.get("serverVersion") or {}).get("gitVersion") or ""

    def _once(self, args: list[str], step: str) -> str:
        return once((self.binary, self.context, *args), lambda: self.run(args, step, changes=False))

    def apply(self, manifests: str, step: str, dry_run: bool = False) -> str:
        args = ["apply", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
        return self.run(args, step, input=manifests, changes=not dry_run)  # a server dry run stores nothing

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
    kept = _kept(key)
    if kept is None:
        kept = _BURST[(os.environ.get("KUBECONFIG"), *key)] = (clock.current.monotonic(), read())
    return kept[1]


def _kept(key: tuple) -> tuple[float, Any] | None:
    """(when, answer) of `key` in this burst of reads, or None."""
    kept = _BURST.get((os.environ.get("KUBECONFIG"), *key))
    return kept if kept is not None and clock.current.monotonic() - kept[0] <= BURST_SECONDS else None


def _crds_written(manifests: str, deleted: bool) -> None:
    """A CRD written (served from now on) or deleted (lacking from now on): what is known of the kinds read
    together follows, so that their next read neither fails on it nor reads it on its own."""
    table = api().cluster
    for key in table.read_together:
        if "." in getattr(table.resources, key) and getattr(table.resources, key) in manifests:  # a CRD's name
            (_UNSERVED.add if deleted else _UNSERVED.discard)(key)


def _lacked(message: str, wanted: list[str]) -> list[str]:
    """The kinds (keys) a failed read together lacked, from kubectl's message naming the first by its plural:
    kinds before it in `wanted` resolved, so an alpha kind after another alpha kind is served (the alpha CRDs come
    and go together), and a lacking alpha kind means both alpha kinds lack."""
    table = api().cluster
    named = re.search(_LACKED + r' "([^".]+)', message) or _UNLISTED.search(message)
    candidates = [
        (position, key)
        for position, key in enumerate(wanted)
        if named and getattr(table.resources, key).partition(".")[0] == named.group(1)
    ]
    unvouched = [
        key
        for position, key in candidates
        if not (key in table.alpha_crds and any(k in table.alpha_crds for k in wanted[:position]))
    ]
    culprit = next(iter(unvouched or [key for _, key in candidates]), None)
    if culprit in table.alpha_crds:
        return [key for key in wanted if key in table.alpha_crds]
    return [culprit] if culprit else []


def _lacks(message: str) -> bool:
    """Whether kubectl's message says the server does not serve a kind (now)."""
    return _LACKED in message or _UNLISTED.search(message) is not None


def _keys_of(resources: list[str]) -> list[str]:
    """The keys (mapping.yaml resources) of these resources that are read together."""
    table = api().cluster
    return [key for key in table.read_together if getattr(table.resources, key) in resources]


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

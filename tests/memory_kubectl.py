"""The fast tier's cluster: the tool's own Kubectl (every method, its argument building and its error mapping)
with kubectl's process replaced by the API emulator's logic called in this process (KubeAPI.call): the same
objects, validation (schemas, CEL), resourceVersion conflicts, 404s and injected faults as over loopback, with no
process and no socket. `invoke` speaks the kubectl command lines the tool uses, and refuses any other: a new
one must be taught here, or its test belongs to the e2e tier.

kubectl's client side is modelled where the tool depends on it: `get` of one object prints the object and of
several a List; `-f -` takes a List or YAML documents; apply creates, or merges into the live object, and keeps
the last-applied annotation; errors read `Error from server (Reason): message` as kubectl prints them."""

from __future__ import annotations

import base64
import gzip
import json
import re
import subprocess
from dataclasses import dataclass, field

import yaml
from kube_api import KubeAPI, Resource, _merge

from infgw_postrender.cluster.helm import Helm, HelmError
from infgw_postrender.cluster.kube import Kubectl

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
CONTEXT = "loopback"


class _Failed(Exception):
    def __init__(self, stderr: str) -> None:
        super().__init__(stderr)
        self.stderr = stderr


@dataclass
class MemoryKubectl(Kubectl):
    api: KubeAPI = field(default_factory=KubeAPI)
    calls: list[list[str]] = field(default_factory=list)  # every kubectl command line the tool asked for

    def invoke(self, command: list[str], input: str | None) -> subprocess.CompletedProcess:
        args = [arg for arg in command[1:] if not arg.startswith(("--request-timeout=", "--context="))]
        self.calls.append(args)
        context = next((a.split("=", 1)[1] for a in command if a.startswith("--context=")), CONTEXT)
        try:
            if context != CONTEXT:
                raise _Failed(f'error: context "{context}" does not exist')
            out = self._answer(args, input)
        except _Failed as failed:
            return subprocess.CompletedProcess(command, 1, "", failed.stderr + "\n")
        return subprocess.CompletedProcess(command, 0, out, "")

    # -- the command lines --------------------------------------------------------------------------------------
    def _answer(self, args: list[str], input: str | None) -> str:
        flags = {a.split("=", 1)[0]: (a.split("=", 1)[1] if "=" in a else "") for a in args if a.startswith("--")}
        words = [a for a in args if not a.startswith("--") and a not in ("-o", "json", "-f", "-", "-p")]
        if args[:3] == ["config", "view", "--minify"]:
            cluster = {"name": CONTEXT, "cluster": {"server": server_url(self.api)}}
            return json.dumps({"kind": "Config", "current-context": CONTEXT, "clusters": [cluster]})
        if args[:1] == ["version"]:
            version = {"gitVersion": self.api.server_version}
            return json.dumps({"clientVersion": {"gitVersion": "v1.35.0"}, "serverVersion": version})
        if args[:3] == ["get", "-f", "-"]:
            found = [obj for obj in map(self._read, _objects(input)) if obj is not None]
            return _printed(found) if found else ""
        if args[0] == "get":
            return self._get(words[1], words[2] if len(words) > 2 else None, flags)
        if args[:3] == ["apply", "-f", "-"]:
            dry_run = flags.get("--dry-run") == "server"
            return "".join(self._apply(obj, dry_run) for obj in _objects(input))
        if args[:3] == ["create", "-f", "-"]:
            strict = {"fieldValidation": ["Strict"]}
            made = [self._call("POST", _path(self._resource_of(o), o), o, o, query=strict) for o in _objects(input)]
            return _printed(made)
        if args[0] == "patch" and flags.get("--type") in ("json", "merge"):
            resource = self._resource(words[1])
            body = json.loads(args[args.index("-p") + 1])
            path = _path(resource, {"metadata": {"namespace": flags.get("--namespace"), "name": words[2]}})
            patched = self._call("PATCH", path, body, {}, f"application/{flags['--type']}-patch+json")
            return (
                f"{resource.kind.lower()}.{resource.group}/{words[2]}\n"
                if args[args.index("-o") + 1] == "name"
                else json.dumps(patched)
            )
        if args[:3] == ["delete", "-f", "-"]:
            lines = []
            for obj in _objects(input):
                resource = self._resource_of(obj)
                status, answer = self.api.call("DELETE", _path(resource, obj))
                if status == 404 and "--ignore-not-found" in flags:
                    continue
                _check(status, answer, resource, obj)
                lines.append(f'{resource.kind.lower()}.{resource.group or ""} "{obj["metadata"]["name"]}" deleted\n')
            return "".join(lines)
        raise AssertionError(f"the in-memory kubectl does not know `kubectl {' '.join(args)}`; teach it, or mark e2e")

    def _get(self, names: str, name: str | None, flags: dict) -> str:
        everywhere = "--all-namespaces" in flags
        namespace = None if everywhere else flags.get("--namespace")
        selector = flags.get("--selector")
        found = []
        # every kind is resolved first: kubectl fails the whole call on the first one the server lacks
        for resource in [self._resource(kind) for kind in names.split(",")]:
            if name:
                return json.dumps(
                    self._call("GET", _path(resource, {"metadata": {"namespace": namespace, "name": name}}), None, {})
                )
            query = {"labelSelector": [selector]} if selector else {}
            path = _path(resource, {"metadata": {"namespace": namespace}})
            status, answer = self.api.call("GET", path, query=query)
            _check(status, answer, resource, {})
            found += answer["items"]
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": found})

    def _read(self, obj: dict) -> dict | None:
        resource = self._resource_of(obj)
        status, answer = self.api.call("GET", _path(resource, obj))
        if status == 404:
            return None
        _check(status, answer, resource, obj)
        return answer

    def _apply(self, obj: dict, dry_run: bool) -> str:
        resource = self._resource_of(obj)
        given = json.loads(json.dumps(obj))
        given.setdefault("metadata", {}).setdefault("annotations", {})[LAST_APPLIED] = json.dumps(obj, sort_keys=True)
        # as kubectl 1.35 asks (-v=6 on a real server): apply and create with fieldValidation=Strict, patch without
        query = {"fieldValidation": ["Strict"], **({"dryRun": ["All"]} if dry_run else {})}
        live = self._read(obj)
        name = (
            f"{resource.plural}.{resource.group}/{obj['metadata']['name']}"
            if resource.group
            else obj["metadata"]["name"]
        )
        suffix = " (server dry run)" if dry_run else ""
        if live is None:
            namespace = obj["metadata"].get("namespace") or ("default" if resource.namespaced else None)
            self._call("POST", _path(resource, {"metadata": {"namespace": namespace}}), given, obj, query=query)
            return f"{name} created{suffix}\n"
        merged = _merge(json.loads(json.dumps(live)), given)
        if merged == live:
            return f"{name} unchanged{suffix}\n"
        self._call("PUT", _path(resource, obj), merged, obj, query=query)
        return f"{name} configured{suffix}\n"

    def _call(
        self, method: str, path: str, body, obj: dict, content_type: str = "application/json", query: dict | None = None
    ) -> dict:
        status, answer = self.api.call(method, path, body, query, content_type)
        _check(status, answer, None, obj)
        return answer

    # -- names of resources -------------------------------------------------------------------------------------
    def _resource(self, name: str) -> Resource:
        """`plural`, `plural.group`, `plural.version.group` or a short name, as kubectl resolves them."""
        plural, _, rest = name.partition(".")
        version, _, group = rest.partition(".")
        if not re.fullmatch(r"v\d+(?:(?:alpha|beta)\d+)?", version):
            version, group = "", rest
        for resource in self.api.resources.values():
            named = plural == resource.plural or plural in resource.short_names or plural == resource.kind.lower()
            if named and (not rest or (resource.group == group and version in ("", resource.version))):
                return resource
        raise _Failed(f'error: the server doesn\'t have a resource type "{plural}"')  # kubectl names the plural

    def _resource_of(self, obj: dict) -> Resource:
        group, _, version = obj["apiVersion"].rpartition("/")
        for resource in self.api.resources.values():
            if (resource.group, resource.version, resource.kind) == (group, version, obj["kind"]):
                return resource
        raise _Failed(
            f'error: resource mapping not found for name: "{obj["metadata"].get("name")}" namespace: "" from "STDIN": '
            f'no matches for kind "{obj["kind"]}" in version "{obj["apiVersion"]}"'
        )


def server_url(api: KubeAPI) -> str:
    """The server's URL in the kubeconfig: the emulator's on loopback once started, else one that is no host."""
    return api.url if hasattr(api, "server") else "https://in-memory.invalid"


def _path(resource: Resource, obj: dict) -> str:
    metadata = obj.get("metadata") or {}
    base = f"/api/{resource.version}" if not resource.group else f"/apis/{resource.group}/{resource.version}"
    if resource.namespaced and metadata.get("namespace") is not None:
        base += f"/namespaces/{metadata['namespace'] or 'default'}"
    elif resource.namespaced and metadata.get("name"):
        base += "/namespaces/default"
    return f"{base}/{resource.plural}" + (f"/{metadata['name']}" if metadata.get("name") else "")


def _check(status: int, answer: dict | None, resource: Resource | None, obj: dict) -> None:
    if status == 0:
        raise _Failed("error: unexpected EOF (the connection dropped)")
    if status >= 400:
        reason = (answer or {}).get("reason") or "InternalError"
        raise _Failed(f"Error from server ({reason}): {(answer or {}).get('message')}")


def _objects(text: str | None) -> list[dict]:
    found = [doc for doc in yaml.load_all(text or "", Loader=yaml.CSafeLoader) if doc]
    return [item for doc in found for item in (doc.get("items") or [] if doc.get("kind") == "List" else [doc])]


def _printed(objects: list[dict]) -> str:
    return json.dumps(objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects})


@dataclass(frozen=True)
class MemoryHelm(Helm):
    """The fast tier's Helm, for reading only: status, values, manifest and list, answered from the release
    records that the real Helm left in the emulator (Secrets `sh.helm.release.v1.NAME.vN`: the release as JSON,
    gzipped, base64 twice, as Helm 3 and 4 store it). A Helm write belongs to the e2e tier: it is refused."""

    api: KubeAPI | None = None

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        words = [arg for arg in args if not arg.startswith("--kube-context")]
        flags = dict(zip(words, words[1:], strict=False))
        namespace = flags.get("-n")
        latest = self._releases(None if "-A" in words else namespace)
        if words[0] == "list":
            rows = [
                {
                    "name": r["name"],
                    "namespace": r["namespace"],
                    "revision": str(r["version"]),
                    "status": r["info"]["status"],
                    "chart": f"{r['chart']['metadata']['name']}-{r['chart']['metadata']['version']}",
                    "app_version": r["chart"]["metadata"].get("appVersion", ""),
                }
                for r in latest.values()
            ]
            return _done(args, json.dumps(rows))
        if words[0] in ("status", "get"):
            name = words[2] if words[0] == "get" else words[1]
            release = latest.get((namespace or "default", name))
            if release is None:
                if check:
                    raise HelmError(f"helm {' '.join(args[:3])}: Error: release: not found")
                return subprocess.CompletedProcess(["helm", *args], 1, "", "Error: release: not found\n")
            if words[0] == "status":
                return _done(args, json.dumps(release))
            if words[1] == "values":
                return _done(args, json.dumps(release.get("config") or {}))
            if words[1] == "manifest":
                return _done(args, release.get("manifest") or "")
        raise AssertionError(f"the in-memory Helm only reads: `helm {' '.join(args)}` belongs to the e2e tier")

    def _releases(self, namespace: str | None) -> dict[tuple[str, str], dict]:
        """The latest revision of each release, by (namespace, name)."""
        latest: dict[tuple[str, str], dict] = {}
        for secret in self.api.all("v1", "Secret") if self.api else []:
            labels = secret["metadata"].get("labels") or {}
            if labels.get("owner") != "helm" or namespace not in (None, secret["metadata"]["namespace"]):
                continue
            text = base64.b64decode(base64.b64decode(secret["data"]["release"]))
            release = json.loads(gzip.decompress(text) if text[:2] == b"\x1f\x8b" else text)
            key = (release["namespace"], release["name"])
            if key not in latest or latest[key]["version"] < release["version"]:
                latest[key] = release
        return latest


def _done(args: tuple[str, ...], out: str) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(["helm", *args], 0, out, "")

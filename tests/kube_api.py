"""A Kubernetes API served on loopback, for the real kubectl and helm in tests.

It speaks what those clients use: legacy discovery, an OpenAPI v3 index that advertises server-side field
validation (so that kubectl sends `fieldValidation` instead of needing a client-side schema), and in-memory
objects with list (label selectors), get, create, update, JSON merge and JSON patches (with `test`), delete and
server dry-run. resourceVersion and generation behave as on a real server. CRDs created through the API
register their resources and become Established. Faults can be injected per method and path.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import yaml


@functools.cache
def _objects_of(path: Path) -> list[dict]:
    """A fixture file's objects, read once per test process (the Gateway API CRDs take a while in pure Python)."""
    return [obj for obj in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader) if obj]


BUILTIN = [  # (group, version, plural, kind, namespaced[, short names])
    ("", "v1", "namespaces", "Namespace", False),
    ("", "v1", "services", "Service", True),
    ("", "v1", "configmaps", "ConfigMap", True),
    ("", "v1", "secrets", "Secret", True),
    ("", "v1", "serviceaccounts", "ServiceAccount", True),
    ("apps", "v1", "deployments", "Deployment", True),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ("crd", "crds")),
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    ("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False),
]


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    custom: bool = False  # served from a CRD: updates need a resourceVersion, no strategic-merge patch
    status_subresource: bool = False  # a create's or an update's `status` is ignored (only /status writes it)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass
class Fault:
    """Answer `status` to requests whose method and path match, `times` times (None: always)."""

    method: str
    path: str  # a regular expression searched in the path
    status: int
    times: int | None = 1
    hang: float = 0.0  # seconds to wait before answering (a timeout, seen from the client)
    dry_run: bool | None = None  # only requests with (True) or without (False) dryRun=All; None: both
    after: int = 0  # matching requests let through first (the second CRD of a bundle, not the first)


@dataclass
class KubeAPI:
    server_version: str = "v1.33.5-gke.1080000"
    resources: dict[tuple[str, str, str], Resource] = field(default_factory=dict)  # (group, version, plural)
    objects: dict[tuple[str, str, str, str], dict] = field(default_factory=dict)  # (group, plural, namespace, name)
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    dry_runs: set[int] = field(default_factory=set)  # positions in requests of server dry runs (stored nothing)
    revision: int = 1
    # Stand-ins for controllers: called with the API after each write or delete through it (under its lock),
    # they reconcile whatever they watch, as a real controller would on its next event.
    controllers: list = field(default_factory=list)
    # openAPIV3Schema of each served custom resource version, from its CRD: writes are validated as a real
    # API server validates them, and refused with 422.
    schemas: dict[tuple[str, str, str], dict] = field(default_factory=dict)
    # What a SelfSubjectAccessReview is refused: (verb, group, resource); the rest is allowed (an admin's token)
    denied: set[tuple[str, str, str]] = field(default_factory=set)
    username: str = "loopback-admin"  # who a SelfSubjectReview says the token's user is
    # (method, path regex, action): the first matching request runs the action on the API first, once: another
    # writer's change that lands between a client's read and its write
    meanwhile: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        for group, version, plural, *rest in BUILTIN:
            status = plural in ("namespaces", "services", "deployments")  # a status subresource of their own
            self.resources[(group, version, plural)] = Resource(
                group, version, plural, *rest, status_subresource=status
            )
        for name in ("default", "kube-system"):
            self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})

    # -- test-side helpers --------------------------------------------------------------------------------
    def start(self) -> KubeAPI:
        api = self

        class Handler(_Handler):
            pass

        Handler.api = api
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path, context: str = "loopback") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [{"name": context, "cluster": {"server": self.url}}],
                    "users": [{"name": context, "user": {"token": "test-token-not-a-secret"}}],
                    "contexts": [
                        {"name": context, "context": {"cluster": context, "user": context, "namespace": "default"}}
                    ],
                }
            )
        )
        return path

    def load(self, *paths: Path | str) -> None:
        """Store every object of these YAML files (CRDs register their resources)."""
        for path in paths:
            for obj in _objects_of(Path(path)):
                self.put(obj)  # a copy

    def fault_for(self, method: str, path: str, query: dict) -> Fault | None:
        """Log the request; the fault it meets, if any (counted)."""
        with self.lock:
            self.requests.append((method, path))
            if "All" in (query or {}).get("dryRun", []):
                self.dry_runs.add(len(self.requests) - 1)
            for hook in [h for h in self.meanwhile if h[0] == method and re.search(h[1], path)][:1]:
                self.meanwhile.remove(hook)
                hook[2](self)
            for fault in self.faults:
                if (
                    fault.method in (method, "*")
                    and re.search(fault.path, path)
                    and fault.times != 0
                    and fault.dry_run in (None, "All" in query.get("dryRun", []))
                ):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def call(
        self, method: str, path: str, body=None, query: dict | None = None, content_type: str = "application/json"
    ) -> tuple[int, dict | None]:
        """One request without HTTP, for the fast tier's in-memory kubectl: the same answers as over loopback,
        faults included ((0, None): the connection dropped)."""
        query = query or {}
        fault = self.fault_for(method, path, query)
        if fault is not None:
            if fault.status == 0:
                return 0, None
            return fault.status, _status_body(
                fault.status, "InjectedFault", f"injected fault {fault.status} on {method} {path}"
            )
        handler = _InProcess(self, content_type)
        try:
            handler._route(method, path, query, body if body is not None else {})
        except _Error as error:
            return error.code, _status_body(error.code, error.reason, error.message)
        return handler.answer

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """The requests since `since` that could change something: not reads, nor server dry runs, nor the access
        reviews a migration asks before its first change."""
        return [
            r
            for at, r in enumerate(self.requests[since:], since)
            if r[0] != "GET"
            and not r[1].endswith(("/selfsubjectaccessreviews", "/selfsubjectreviews"))
            and at not in self.dry_runs
        ]

    def put(self, obj: dict) -> dict:
        resource = self.resource_of(obj["apiVersion"], obj["kind"])
        namespace = (obj["metadata"].get("namespace") or "default") if resource.namespaced else ""
        with self.lock:
            stored = self._stamp(copy.deepcopy(obj), None)
            if resource.namespaced:
                stored["metadata"]["namespace"] = namespace
            self.objects[(resource.group, resource.plural, namespace, obj["metadata"]["name"])] = stored
            if resource.kind == "CustomResourceDefinition":
                self._register(stored)
        return stored

    def get(self, api_version: str, kind: str, name: str, namespace: str = "default") -> dict | None:
        """None also when the kind is not served (its CRD is not there)."""
        try:
            resource = self.resource_of(api_version, kind)
        except KeyError:
            return None
        return self.objects.get((resource.group, resource.plural, namespace if resource.namespaced else "", name))

    def all(self, api_version: str, kind: str) -> list[dict]:
        try:
            resource = self.resource_of(api_version, kind)
        except KeyError:
            return []
        return [obj for key, obj in sorted(self.objects.items()) if key[:2] == (resource.group, resource.plural)]

    def resource_of(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        for resource in self.resources.values():
            if (resource.group, resource.kind) == (group, kind):
                return resource
        raise KeyError(f"no resource for {api_version} {kind}")

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        times: int | None = 1,
        hang: float = 0.0,
        dry_run: bool | None = None,
        after: int = 0,
    ) -> Fault:
        fault = Fault(method.upper(), path, status, times, hang, dry_run, after)
        self.faults.append(fault)
        return fault

    # -- server side ------------------------------------------------------------------------------------------
    def _stamp(self, obj: dict, previous: dict | None) -> dict:
        self.revision += 1
        metadata = obj.setdefault("metadata", {})
        metadata["resourceVersion"] = str(self.revision)
        metadata.setdefault("uid", f"uid-{self.revision}")
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        generation = (previous or {}).get("metadata", {}).get("generation", 0)
        changed = previous is None or previous.get("spec") != obj.get("spec")
        metadata["generation"] = generation + 1 if changed else generation
        return obj

    def _register(self, crd: dict) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                key = (spec["group"], version["name"], spec["names"]["plural"])
                self.resources[key] = Resource(
                    *key,
                    spec["names"]["kind"],
                    spec.get("scope") == "Namespaced",
                    tuple(spec["names"].get("shortNames", ())),
                    custom=True,
                    status_subresource="status" in (version.get("subresources") or {}),
                )
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if schema:
                    self.schemas[key] = schema
        crd["status"] = {
            "conditions": [
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            ],
            "acceptedNames": spec["names"],
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
        }

    def reconcile(self) -> None:
        with self.lock:
            for controller in self.controllers:
                controller(self)

    def validate(self, resource: Resource, obj: dict, strict: bool = False) -> None:
        """As the API server does for a custom resource: fields its CRD's structural schema does not declare are
        refused with strict field validation (kubectl's default) and pruned otherwise; then the schema, then its
        CEL rules."""
        import cel_rules
        import jsonschema
        from structural import prune, unknown_fields

        schema = self.schemas.get((resource.group, resource.version, resource.plural))
        if schema is None:
            return
        name = f'{resource.kind}.{resource.group} "{obj["metadata"].get("name")}"'
        unknown = unknown_fields(schema, obj)
        if unknown and strict:
            raise _Error(400, "BadRequest", f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                         f"{resource.kind}: strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown))  # fmt: skip
        prune(schema, obj)
        error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(obj))
        if error is not None:
            where = ".".join(str(part) for part in error.absolute_path) or "<root>"
            raise _Error(422, "Invalid", f"{name} is invalid: {where}: {error.message}")
        broken = cel_rules.check(schema, obj)
        if broken:
            raise _Error(422, "Invalid", f"{name} is invalid: {broken[0]}")

    def _unregister(self, crd: dict) -> None:
        spec = crd["spec"]
        for key in [
            k for k, r in self.resources.items() if (r.group, r.plural) == (spec["group"], spec["names"]["plural"])
        ]:
            del self.resources[key]
            self.schemas.pop(key, None)
        for key in [k for k in self.objects if k[:2] == (spec["group"], spec["names"]["plural"])]:
            del self.objects[key]  # deleting a CRD deletes every object of it, as on a real server


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """Clients that time out or drop the connection (the faults tests inject) are not server errors."""


_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)


class _Handler(BaseHTTPRequestHandler):
    api: KubeAPI
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: without TCP_NODELAY the body waits for the client's delayed ACK
    # (40 ms a request on Linux), as no real API server makes a client wait
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # ----------------------------------------------------------------------------------------------------------
    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(code, _status_body(code, reason, message))

    def _body(self) -> dict | list:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        if "protobuf" in (self.headers.get("Content-Type") or ""):
            return _from_protobuf(raw)
        text = raw.decode()
        return json.loads(text) if text.lstrip()[:1] in "{[" else yaml.safe_load(text)

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        body = self._body()  # read even when unused (DELETE carries options): the connection is reused
        fault = self.api.fault_for(method, path, query)
        if fault is not None:
            if fault.hang:
                time.sleep(fault.hang)
            if fault.status == 0:  # the server goes away: the connection drops without an answer
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return None
            return self._status(fault.status, "InjectedFault", f"injected fault {fault.status} on {method} {path}")
        try:
            self._route(method, path, query, body)
        except _Error as error:
            self._status(error.code, error.reason, error.message)

    def _route(self, method: str, path: str, query: dict, body) -> None:
        api = self.api
        self.strict = query.get("fieldValidation", [""])[0] == "Strict"  # kubectl's default; Helm 3 sends none
        if path == "/version":
            found = re.match(r"v(\d+)\.(\d+)", api.server_version)
            return self._send(
                200,
                {
                    "major": found.group(1) if found else "1",
                    "minor": found.group(2) if found else "0",
                    "gitVersion": api.server_version,
                    "platform": "linux/amd64",
                },
            )
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self._send(200, self._group_list())
        if path.startswith("/openapi/v3"):
            return self._openapi(path)
        if path == "/openapi/v2":
            # An OpenAPI v2 document without definitions, in the protobuf form clients ask for (field 1,
            # swagger = "2.0"): Helm 3 validates against it, and finds no schema for any kind, as for a CRD.
            data = b"\x0a\x032.0"
            self.send_response(200)
            self.send_header("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        found = _PATH.match(path)
        if found and not found.group("plural"):
            raise _Error(404, "NotFound", path)
        if found is None:
            return self._discovery(path)
        group = found.group("group") or ""
        version = found.group("core") or found.group("version")
        resource = api.resources.get((group, version, found.group("plural")))
        if resource is None:
            return (
                self._discovery(path)
                if method == "GET"
                else self._status(404, "NotFound", "the server could not find the requested resource")
            )
        namespace = unquote(found.group("namespace") or "")
        name = found.group("name")
        dry_run = "All" in query.get("dryRun", [])
        with api.lock:
            if method == "GET" and name is None:
                return self._send(200, self._list(resource, namespace, query))
            if method == "GET":
                return self._send(200, self._served(resource, self._existing(resource, namespace, name)))
            if method == "POST" and resource.kind == "SelfSubjectAccessReview":  # answered, never stored
                asked = (body.get("spec") or {}).get("resourceAttributes") or {}
                allowed = (asked.get("verb"), asked.get("group", ""), asked.get("resource")) not in api.denied
                return self._send(201, self._served(resource, {**body, "status": {"allowed": allowed}}))
            if method == "POST" and resource.kind == "SelfSubjectReview":  # answered, never stored
                return self._send(
                    201, self._served(resource, {**body, "status": {"userInfo": {"username": api.username}}})
                )
            if method == "POST":
                return self._send(201, self._served(resource, self._create(resource, namespace, body, dry_run)))
            if method == "PUT":
                given = (body.get("metadata") or {}).get("name")
                if given != name:
                    raise _Error(400, "BadRequest", f"the name of the object ({given}) does not match the name on the "
                                 f"URL ({name})")  # fmt: skip
                if resource.custom and not (body.get("metadata") or {}).get("resourceVersion"):
                    raise _Error(422, "Invalid", f'{resource.plural}.{resource.group} "{name}" is invalid: '
                                 "metadata.resourceVersion: Invalid value: 0: must be specified for an update")  # fmt: skip
                return self._send(
                    200,
                    self._served(resource, self._update(resource, namespace, name, body, dry_run, found.group("sub"))),
                )
            if method == "PATCH" and "apply-patch" in self.headers.get("Content-Type", ""):
                # server-side apply, modelled as create-or-merge (field ownership is not)
                key = (resource.group, resource.plural, namespace if resource.namespaced else "", name)
                if key not in api.objects:
                    return self._send(201, self._served(resource, self._create(resource, namespace, body, dry_run)))
                merged = _merge(copy.deepcopy(api.objects[key]), body)
                merged["metadata"].pop("resourceVersion", None)
                return self._send(
                    200, self._served(resource, self._update(resource, namespace, name, merged, dry_run, None))
                )
            if method == "PATCH":
                if resource.custom and "strategic-merge-patch" in self.headers.get("Content-Type", ""):
                    raise _Error(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                 "accepted media types include: application/json-patch+json, "
                                 "application/merge-patch+json, application/apply-patch+yaml")  # fmt: skip
                current = self._existing(resource, namespace, name)
                patched = _patch(current, body, self.headers.get("Content-Type", ""))
                return self._send(
                    200,
                    self._served(
                        resource, self._update(resource, namespace, name, patched, dry_run, found.group("sub"))
                    ),
                )
            if method == "DELETE":
                current = self._existing(resource, namespace, name)
                if current["metadata"].get("finalizers"):  # held until its controller removes them
                    if not dry_run and not current["metadata"].get("deletionTimestamp"):
                        held = api._stamp(copy.deepcopy(current), current)
                        held["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
                        api.objects[(resource.group, resource.plural, namespace, name)] = held
                        current = held
                    return self._send(200, self._served(resource, current))
                if not dry_run:
                    del api.objects[(resource.group, resource.plural, namespace, name)]
                    if resource.kind == "CustomResourceDefinition":
                        api._unregister(current)
                    api.reconcile()
                return self._send(200, self._served(resource, current))
        raise _Error(405, "MethodNotAllowed", method)

    def _served(self, resource: Resource, obj: dict) -> dict:
        served = copy.deepcopy(obj)
        served["apiVersion"], served["kind"] = resource.group_version, resource.kind
        return served

    def _existing(self, resource: Resource, namespace: str, name: str) -> dict:
        found = self.api.objects.get((resource.group, resource.plural, namespace if resource.namespaced else "", name))
        if found is None:
            raise _Error(404, "NotFound", f'{resource.plural}.{resource.group or "core"} "{name}" not found')
        return found

    def _list(self, resource: Resource, namespace: str, query: dict) -> dict:
        selector = dict(
            part.split("=", 1)
            for part in query.get("labelSelector", [""])[0].replace("==", "=").split(",")
            if "=" in part
        )
        items = []
        for (group, plural, obj_namespace, _), obj in sorted(self.api.objects.items()):
            if (group, plural) != (resource.group, resource.plural) or (namespace and obj_namespace != namespace):
                continue
            labels = obj.get("metadata", {}).get("labels") or {}
            if all(labels.get(key) == value for key, value in selector.items()):
                items.append(self._served(resource, obj))
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": str(self.api.revision)},
            "items": items,
        }

    def _create(self, resource: Resource, namespace: str, body: dict, dry_run: bool) -> dict:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise _Error(422, "Invalid", "metadata.name: Required value")
        key = (resource.group, resource.plural, namespace if resource.namespaced else "", name)
        if key in self.api.objects:
            raise _Error(409, "AlreadyExists", f'{resource.plural}.{resource.group or "core"} "{name}" already exists')
        given = (body.get("metadata") or {}).get("namespace")
        if resource.namespaced and given and given != namespace:
            raise _Error(400, "BadRequest", "the namespace of the provided object does not match the namespace sent "
                         "on the request")  # fmt: skip
        if resource.namespaced and ("", "namespaces", "", namespace) not in self.api.objects:
            raise _Error(404, "NotFound", f'namespaces "{namespace}" not found')
        obj = self.api._stamp(copy.deepcopy(body), None)
        obj["apiVersion"], obj["kind"] = resource.group_version, resource.kind
        if resource.status_subresource:
            obj.pop("status", None)  # only the status subresource writes it
        if resource.namespaced:
            obj["metadata"]["namespace"] = namespace
        self.api.validate(resource, obj, getattr(self, "strict", False))
        obj["metadata"].pop("resourceVersion", None) if dry_run else None
        if not dry_run:
            self.api.objects[key] = obj
            if resource.kind == "CustomResourceDefinition":
                self.api._register(obj)
            self.api.reconcile()
        return obj

    def _update(
        self, resource: Resource, namespace: str, name: str, body: dict, dry_run: bool, sub: str | None
    ) -> dict:
        current = self._existing(resource, namespace, name)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise _Error(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {resource.plural} "{name}": the object has been modified',
            )
        updated = copy.deepcopy(body)
        if sub == "status":
            updated = {**copy.deepcopy(current), "status": updated.get("status")}
        else:
            updated["status"] = copy.deepcopy(current.get("status")) if "status" in current else updated.get("status")
            if updated.get("status") is None:
                updated.pop("status", None)
        updated.setdefault("metadata", {})["uid"] = current["metadata"]["uid"]
        if resource.namespaced:
            updated["metadata"]["namespace"] = namespace
        updated["metadata"]["generation"] = current["metadata"].get("generation", 1)
        updated["apiVersion"], updated["kind"] = resource.group_version, resource.kind
        self.api.validate(resource, updated, getattr(self, "strict", False))
        if dry_run:
            return updated
        obj = self.api._stamp(updated, current)
        obj["apiVersion"], obj["kind"] = resource.group_version, resource.kind
        key = (resource.group, resource.plural, namespace if resource.namespaced else "", name)
        if current["metadata"].get("deletionTimestamp"):
            obj["metadata"]["deletionTimestamp"] = current["metadata"]["deletionTimestamp"]
            if not obj["metadata"].get("finalizers"):  # its last finalizer removed: deleted now
                del self.api.objects[key]
                self.api.reconcile()
                return obj
        self.api.objects[key] = obj
        if resource.kind == "CustomResourceDefinition":
            self.api._register(obj)
        self.api.reconcile()
        return obj

    # -- discovery and OpenAPI ----------------------------------------------------------------------------------
    def _group_list(self) -> dict:
        groups: dict[str, list[str]] = {}
        for resource in self.api.resources.values():
            if resource.group:
                versions = groups.setdefault(resource.group, [])
                if resource.version not in versions:
                    versions.append(resource.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": group,
                    "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                    "preferredVersion": {
                        "groupVersion": f"{group}/{_preferred(versions)}",
                        "version": _preferred(versions),
                    },
                }
                for group, versions in sorted(groups.items())
            ],
        }

    def _discovery(self, path: str) -> None:
        found = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))$", path)
        if not found:
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        group, version = found.group(2) or "", found.group(1) or found.group(3)
        listed = [r for r in self.api.resources.values() if (r.group, r.version) == (group, version)]
        if not listed:
            raise _Error(404, "NotFound", "the server could not find the requested resource")
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        return self._send(
            200,
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": listed[0].group_version,
                "resources": [
                    {
                        "name": r.plural,
                        "singularName": r.kind.lower(),
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": verbs,
                        "shortNames": list(r.short_names),
                    }
                    for r in listed
                ]
                + [
                    {
                        "name": f"{r.plural}/status",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        "kind": r.kind,
                        "verbs": ["get", "patch", "update"],
                    }
                    for r in listed
                ],
            },
        )

    def _openapi(self, path: str) -> None:
        versions = sorted({(r.group, r.version) for r in self.api.resources.values()})
        if path.rstrip("/") == "/openapi/v3":
            paths = {}
            for group, version in versions:
                key = f"apis/{group}/{version}" if group else "api/v1"
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={self.api.revision}"}
            return self._send(200, {"paths": paths})
        key = path[len("/openapi/v3/") :]
        found = re.match(r"^(?:api/(v1)|apis/([^/]+)/([^/]+))$", key)
        if not found:
            raise _Error(404, "NotFound", path)
        group, version = found.group(2) or "", found.group(1) or found.group(3)
        paths = {}
        for r in self.api.resources.values():
            if (r.group, r.version) != (group, version):
                continue
            prefix = f"/apis/{group}/{version}" if group else "/api/v1"
            item = f"{prefix}{'/namespaces/{namespace}' if r.namespaced else ''}/{r.plural}/{{name}}"
            paths[item] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
                    "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return self._send(
            200,
            {
                "openapi": "3.0.0",
                "info": {"title": "loopback", "version": version},
                "paths": paths,
                "components": {"schemas": {}},
            },
        )


class _Error(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        self.code, self.reason, self.message = code, reason, message


class _InProcess(_Handler):
    """The handler's logic without a connection: what it would send is kept in `answer`."""

    def __init__(self, api: KubeAPI, content_type: str) -> None:  # not super().__init__(): that serves a socket
        self.api, self.headers, self.answer = api, {"Content-Type": content_type}, (0, None)

    def _send(self, status: int, body: dict) -> None:
        self.answer = (status, copy.deepcopy(body))


def _status_body(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _preferred(versions: list[str]) -> str:
    """v1 over v1beta1 over v1alpha2, as the API server orders them."""

    def rank(v: str) -> tuple:
        found = re.match(r"v(\d+)(alpha|beta)?(\d*)", v)
        if not found:
            return (0,)
        return (int(found.group(1)), {"alpha": 0, "beta": 1, None: 2}[found.group(2)], int(found.group(3) or 0))

    return max(versions, key=rank)


def _patch(current: dict, patch, content_type: str) -> dict:
    if "json-patch" in content_type:
        return _json_patch(copy.deepcopy(current), patch)
    if "merge-patch" in content_type or "strategic-merge-patch" in content_type:
        return _merge(copy.deepcopy(current), patch)  # lists are replaced: strategic keys are not modelled
    raise _Error(415, "UnsupportedMediaType", content_type)


def _merge(target, patch):
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge(target.get(key), value)
    return target


def _json_patch(doc: dict, operations: list) -> dict:
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
        kind = op["op"]
        try:
            if kind == "test":
                actual = parent[index] if isinstance(parent, list) else parent.get(last)
                if actual != op["value"]:
                    raise _Error(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in our request: test failed at {op['path']}",
                    )
            elif kind in ("replace", "add"):
                if isinstance(parent, list):
                    if kind == "add":
                        parent.insert(index, op["value"])
                    else:
                        parent[index] = op["value"]
                else:
                    if kind == "replace" and last not in parent:
                        raise _Error(422, "Invalid", f"replace of missing path {op['path']}")
                    parent[last] = op["value"]
            elif kind == "remove":
                del parent[index if isinstance(parent, list) else last]
            else:
                raise _Error(422, "Invalid", f"unsupported op {kind}")
        except (KeyError, IndexError):
            raise _Error(422, "Invalid", f"path {op['path']} does not exist") from None
    return doc


# Helm writes its release records (Secrets) in Kubernetes' protobuf encoding. The fields it uses, by number:
_OBJECT_META = {
    1: "name",
    2: "generateName",
    3: "namespace",
    6: "resourceVersion",
    5: "uid",
    11: "labels",
    12: "annotations",
}


def _from_protobuf(raw: bytes) -> dict:
    """A Secret or ConfigMap from the `k8s\\0` envelope (runtime.Unknown: typeMeta=1, raw=2)."""
    if not raw.startswith(b"k8s\x00"):
        raise _Error(415, "UnsupportedMediaType", "protobuf without the k8s envelope")
    envelope = _fields(raw[4:])
    type_meta = _fields(envelope[1][0])
    api_version, kind = type_meta[1][0].decode(), type_meta[2][0].decode()
    if kind == "DeleteOptions":
        return {}  # Helm's uninstall sends them with its deletes; their content does not matter here
    body = _fields(envelope[2][0])
    obj: dict = {"apiVersion": api_version, "kind": kind, "metadata": _object_meta(body.get(1, [b""])[0])}
    if kind == "Secret":
        import base64

        obj["data"] = {k: base64.b64encode(v).decode() for k, v in _map(body.get(2, []))}
        if 3 in body:
            obj["type"] = body[3][0].decode()
    elif kind == "ConfigMap":
        obj["data"] = {k: v.decode() for k, v in _map(body.get(2, []))}
    else:
        raise _Error(415, "UnsupportedMediaType", f"protobuf {kind} is not modelled; send JSON")
    return obj


def _object_meta(raw: bytes) -> dict:
    meta: dict = {}
    for number, values in _fields(raw).items():
        name = _OBJECT_META.get(number)
        if name in ("labels", "annotations"):
            meta[name] = {k: v.decode() for k, v in _map(values)}
        elif name:
            meta[name] = values[0].decode()
    return meta


def _map(entries: list[bytes]) -> list[tuple[str, bytes]]:
    pairs = []
    for entry in entries:
        fields = _fields(entry)
        pairs.append((fields.get(1, [b""])[0].decode(), fields.get(2, [b""])[0]))
    return pairs


def _fields(data: bytes) -> dict[int, list]:
    """Protobuf wire format: field number -> values (bytes for length-delimited, int for varints)."""
    fields: dict[int, list] = {}
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise _Error(400, "BadRequest", f"protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _varint(data: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, at

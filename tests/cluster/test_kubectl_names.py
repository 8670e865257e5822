"""How the tool names resources to kubectl, checked on the real kubectl against the emulator (e2e)."""

from __future__ import annotations

from conftest import FIXTURES


def test_kubectl_is_asked_for_a_version_each_crd_serves(cluster):
    """Every resource the commands read goes to kubectl as plural.version.group, in a version that the CRD in the
    fixtures serves (or a built-in's). Named plural.group alone, kubectl throws its discovery cache away on every
    call and rediscovers the whole cluster; the qualified name is found in the cache."""
    import yaml

    from infgw_postrender.api.mapping import api

    served = {"customresourcedefinitions.apiextensions.k8s.io": {"v1"}, "deployments.apps": {"v1"}}
    for path in sorted((FIXTURES / "crds").glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            if crd and crd.get("kind") == "CustomResourceDefinition":
                served.setdefault(crd["metadata"]["name"], set()).update(
                    v["name"] for v in crd["spec"]["versions"] if v.get("served")
                )
    cluster.kubectl("get", "deployments.apps", "-o", "name")  # discovery, now in the cache
    installed = {(r.group, r.plural) for r in cluster.api.resources.values()}

    def rediscovers(resource: str) -> bool:
        return "Invalidating discovery" in cluster.kubectl("get", resource, "-A", "-o", "name", "-v=6").stderr

    for name in api().cluster.resources:
        qualified = api().cluster.qualified(name)
        if "." not in name:  # the core group's (services): its plural alone, found in the cache as it is
            assert qualified == name and ("", name) in installed and not rediscovers(name), name
            continue
        plural, version, group = qualified.split(".", 2)
        assert f"{plural}.{group}" == name and version in served[name], (name, version)
        if (group, plural) in installed:
            assert not rediscovers(qualified), qualified
    assert rediscovers("httproutes.gateway.networking.k8s.io"), "kubectl no longer rediscovers: drop the versions"

"""Which controller serves the Gateway, asked before the first change: GKE's serves the GA InferencePool; another
must be vouched for (`--accept-gateway-class NAME`), since a controller that serves only the alpha group sends no
traffic to a v1 pool (Istio 1.27; kserve#5007)."""

from __future__ import annotations

from infgw_postrender.api.mapping import api
from infgw_postrender.cluster.kube import Kubectl, NotFound
from infgw_postrender.errors import Refused


def check_gateway_class(kubectl: Kubectl, gateway: str, namespace: str, accepted: tuple[str, ...]) -> str:
    """What serves Gateway `gateway` (NAME or NAMESPACE/NAME), for the plan's notes; Refused (nothing changed)
    unless it is GKE's controller or its class is in `accepted`."""
    resources = api().cluster.resources
    gateway_namespace, _, name = gateway.rpartition("/")
    gateway_namespace = gateway_namespace or namespace
    found = kubectl.find(resources.gateway, name, gateway_namespace, f"read Gateway {gateway_namespace}/{name}")
    if found is None:
        raise Refused(f"Gateway {gateway_namespace}/{name} does not exist; pass --gateway NAME or NAMESPACE/NAME")
    class_name = (found.get("spec") or {}).get("gatewayClassName") or ""
    try:
        found_class = kubectl.find(resources.gateway_class, class_name, None, f"read GatewayClass {class_name}")
    except NotFound:  # no GatewayClass CRD at all
        found_class = None
    controller = ((found_class or {}).get("spec") or {}).get("controllerName")
    what = f"Gateway {gateway_namespace}/{name} (GatewayClass {class_name}, controller {controller or 'unknown'})"
    if controller == api().cluster.gke_gateway_controller:
        return f"{what}: GKE's, which serves inference.networking.k8s.io/v1 InferencePools"
    if class_name in accepted:
        return f"{what}: accepted with --accept-gateway-class {class_name}"
    why = "no such GatewayClass" if found_class is None else "not GKE's Gateway controller"
    raise Refused(
        f"{what}: {why}; it must serve inference.networking.k8s.io/v1 InferencePools (Istio 1.27 served only the "
        f"alpha group, and a pool moved to v1 there lost its traffic); once you know it does, pass "
        f"--accept-gateway-class {class_name or 'NAME'}; nothing changed"
    )

"""The guide's check: the Gateway is PROGRAMMED with an address, and a completion through it answers 200."""

from __future__ import annotations

import time
from dataclasses import dataclass

from infgw_postrender.api.mapping import api
from infgw_postrender.api.objects import condition_is_true
from infgw_postrender.cluster.kube import Kubectl
from infgw_postrender.errors import MigrateError

# What the guide asks the model when it checks a Gateway.
DEFAULT_PROMPT = "Write as if you were a critic: San Francisco"


class VerifyFailed(MigrateError):
    exit_code = 1


@dataclass
class Verdict:
    gateway: str
    programmed: bool | None  # None: not read (--url asks the URL alone)
    address: str | None
    url: str
    status: int | None
    latency_ms: float | None
    ok: bool
    detail: str


def gateway_address(kubectl: Kubectl, gateway: str) -> tuple[bool, str | None]:
    obj = kubectl.get_one(api().cluster.resources.gateway, gateway, None, f"read Gateway {gateway}")
    status = obj.get("status") or {}
    programmed = condition_is_true(status, "Programmed")
    addresses = [a.get("value") for a in status.get("addresses") or [] if a.get("value")]
    return programmed, addresses[0] if addresses else None


def completion_url(address: str, port: int) -> str:
    """Where the guide sends its completion through a Gateway."""
    return f"http://{address}:{port}/v1/completions"


def completion(
    url: str, model: str, prompt: str, timeout: float, headers: dict[str, str] | None = None
) -> tuple[int | None, float | None, str]:
    """POST /v1/completions as the guide does; (status, latency in ms, what went wrong or the answer's gist)."""
    import requests

    body = {"model": model, "prompt": prompt, "max_tokens": 100, "temperature": 0}
    start = time.monotonic()
    try:
        response = requests.post(url, json=body, timeout=timeout, headers=headers)
    except requests.Timeout:
        return None, None, f"no answer within {timeout:.0f}s"
    except requests.RequestException as exc:
        return None, None, f"unreachable ({type(exc).__name__})"
    latency = (time.monotonic() - start) * 1000
    if response.status_code != 200:
        return response.status_code, latency, f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"
    try:
        answer = response.json()
    except ValueError:
        return response.status_code, latency, "HTTP 200 but the body is not JSON; is this an OpenAI-compatible server?"
    choices = answer.get("choices") if isinstance(answer, dict) else None
    if not choices:
        return response.status_code, latency, "HTTP 200 but no choices in the answer"
    return response.status_code, latency, "answered"


def verify(
    kubectl: Kubectl | None, gateway: str, url: str | None, port: int, model: str, prompt: str, timeout: float
) -> Verdict:
    programmed, address = (None, None) if kubectl is None else gateway_address(kubectl, gateway)
    if url is None:
        if not programmed or not address:
            state = "not PROGRAMMED" if not programmed else "PROGRAMMED but without an address"
            return Verdict(gateway, programmed, address, "", None, None, False, f"Gateway {gateway} is {state}")
        url = completion_url(address, port)
    status, latency, detail = completion(url, model, prompt, timeout)
    ok = programmed is not False and status == 200 and detail == "answered"
    return Verdict(gateway, programmed, address, url, status, latency, ok, detail)

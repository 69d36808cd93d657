"""components/webhooks: only workers hold the signing secret, gateways are told webhooks are
on, and the workers' egress reaches public addresses only: every address the NetworkPolicy
lets them reach the delivery code also accepts, and every range it excepts the code refuses."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from shared.webhooks.targets import refusal_reason
from tests.deploy.k8s_render import Obj, container_env, of_kind, pod_specs, render_with

#: Addresses an SSRF goes for; the policy must not let a worker reach any of them.
INTERNAL = [
    "127.0.0.1",
    "10.0.0.7",
    "10.96.0.1",  # a typical Service CIDR
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.10",  # carrier-grade NAT, some clusters' pod range
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "::1",
    "fd00::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
]
CARRYING_IPV4 = {"::ffff:0:0/96", "64:ff9b::/96", "2002::/16"}
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001::1"]


def allowed_by(policy: Obj, address: str) -> bool:
    """Whether one of the policy's egress rules lets ``address`` through."""
    ip = ipaddress.ip_address(address)
    for rule in policy["spec"]["egress"]:
        for peer in rule["to"]:
            block = peer.get("ipBlock")
            if block is None or ip.version != ipaddress.ip_network(block["cidr"]).version:
                continue
            if ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(e) for e in block.get("except", [])
            ):
                return True
    return False


def test_only_workers_hold_the_signing_secret(kubectl: str, tmp_path: Path) -> None:
    objs = render_with(kubectl, tmp_path, ["webhooks"])
    worker, gateway = container_env(objs, "worker"), container_env(objs, "gateway")
    assert worker["WEBHOOK_ENABLED"] == gateway["WEBHOOK_ENABLED"] == "true"
    (container,) = pod_specs(objs)["worker"]["containers"]
    (secret,) = [v for v in container["env"] if v["name"] == "WEBHOOK_SIGNING_SECRET"]
    assert secret["valueFrom"]["secretKeyRef"]["name"] == "picupscaler-worker"
    assert "WEBHOOK_SIGNING_SECRET" not in gateway
    assert "WEBHOOK_SIGNING_SECRET" not in container_env(objs, "janitor")
    # Without the component nothing of it is there: webhooks are off.
    plain = render_with(kubectl, tmp_path, ["operator-models"])
    assert not any(k.startswith("WEBHOOK_") for k in container_env(plain, "worker"))
    assert "worker-webhooks" not in of_kind(plain, "NetworkPolicy")


def test_worker_egress_reaches_public_addresses_only(kubectl: str, tmp_path: Path) -> None:
    policy = of_kind(render_with(kubectl, tmp_path, ["webhooks"]), "NetworkPolicy")[
        "worker-webhooks"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    for address in INTERNAL:
        assert not allowed_by(policy, address), address
        assert refusal_reason(ipaddress.ip_address(address)) is not None, address
    for address in PUBLIC:
        assert allowed_by(policy, address), address
        assert refusal_reason(ipaddress.ip_address(address)) is None, address
    # Every excepted range is one the code refuses too: its first, middle and last address.
    # The ranges that carry an IPv4 address (mapped, NAT64, 6to4) are excepted whole: stricter
    # than the code, which judges the address they carry (the samples above cover that).
    for rule in policy["spec"]["egress"]:
        for peer in rule["to"]:
            for excepted in peer["ipBlock"].get("except", []):
                net = ipaddress.ip_network(excepted)
                if excepted in CARRYING_IPV4:
                    continue
                for ip in (net[0], net[net.num_addresses // 2], net[-1]):
                    assert refusal_reason(ip) is not None, (excepted, str(ip))


def test_component_validates_against_kubernetes_schemas(
    kubectl: str, kubernetes_validate: Any, tmp_path: Path
) -> None:
    objs = render_with(kubectl, tmp_path, ["webhooks"])
    for obj in [of_kind(objs, "NetworkPolicy")["worker-webhooks"], *pod_deployments(objs)]:
        for version in ("1.37.0", "1.29.0"):
            kubernetes_validate.validate(obj, version, strict=True)


def pod_deployments(objs: list[Obj]) -> list[Obj]:
    return [o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] != "janitor"]

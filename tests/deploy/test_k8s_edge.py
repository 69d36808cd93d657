"""The edge of the production overlays: Gateway API (default) and ingress-nginx (alternative).
Only the public routes are published, request bodies stream through the proxy (never to its
disk), uploads are rate-limited per client, and the proxy logs no client address, path or
User-Agent (issue #12)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.k8s_render import container_env, of_kind, render

HOST = "picupscaler.example.org"
INTERNAL = {"/metrics", "/readyz", "/healthz", "/docs", "/redoc", "/openapi.json"}


def public_routes(tmp_path: Path) -> set[str]:
    """The app's user-facing paths (from its OpenAPI document), the operators' excluded."""
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    app = create_app(
        GatewaySettings(
            storage={"local_dir": tmp_path}, crypto={"local_key_file": tmp_path / "key"}
        )
    )
    api = {p for p in app.openapi()["paths"] if not p.startswith("/v1/analytics")}
    assert "/v1/privacy/export" in api and "/v1/jobs/{job_id}" in api
    # The page's scripts, style and icon are served from /static/ (not in the OpenAPI document).
    return {p for p in api if p.startswith("/v1/")} | {"/", "/privacy", "/static/app.js"}


def matches(path: str, kind: str, value: str) -> bool:
    """Whether a route's path match covers ``path`` (Prefix: whole path elements only)."""
    if kind == "Exact":
        return path == value
    prefix = value.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def http_route_paths(objs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(route name, match type, value) of every HTTPRoute path match on the HTTPS listener."""
    found = []
    for name, route in of_kind(objs, "HTTPRoute").items():
        if all(p.get("sectionName") != "https" for p in route["spec"]["parentRefs"]):
            continue
        for rule in route["spec"]["rules"]:
            for match in rule.get("matches", []):
                path = match.get("path", {"type": "PathPrefix", "value": "/"})
                found.append((name, path["type"].replace("PathPrefix", "Prefix"), path["value"]))
    return found


def ingress_paths(objs: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(Ingress name, path type, path) of every Ingress path."""
    return [
        (name, p["pathType"], p["path"])
        for name, ingress in of_kind(objs, "Ingress").items()
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    ]


@pytest.mark.parametrize("overlay", ["prod", "prod-ingress"])
def test_exactly_the_public_routes_are_published(
    kubectl: str, overlay: str, tmp_path: Path
) -> None:
    objs = render(kubectl, overlay)
    paths = http_route_paths(objs) if overlay == "prod" else ingress_paths(objs)
    assert paths
    for path in public_routes(tmp_path):
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        assert any(matches(concrete, kind, value) for _, kind, value in paths), path
    for path in INTERNAL | {"/v1/analytics"}:
        assert not any(matches(path, kind, value) for _, kind, value in paths), path


def test_gateway_api_edge(kubectl: str) -> None:
    objs = render(kubectl, "prod")
    (gateway,) = of_kind(objs, "Gateway").values()
    assert gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    listeners = {lis["name"]: lis for lis in gateway["spec"]["listeners"]}
    https = listeners["https"]
    assert https["protocol"] == "HTTPS" and https["hostname"] == HOST
    assert https["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "picupscaler-tls"}]
    # Routes hang on this Gateway and lead to the gateway Service's port.
    service_ports = {p["port"] for p in of_kind(objs, "Service")["gateway"]["spec"]["ports"]}
    for name, route in of_kind(objs, "HTTPRoute").items():
        for parent in route["spec"]["parentRefs"]:
            assert parent["name"] == gateway["metadata"]["name"], name
            assert parent["sectionName"] in listeners, name
        for rule in route["spec"]["rules"]:
            for backend in rule.get("backendRefs", []):
                assert backend["name"] == "gateway" and backend["port"] in service_ports, name
    # Plain HTTP only redirects to HTTPS.
    redirect = [r for r in of_kind(objs, "HTTPRoute").values()
                if r["spec"]["parentRefs"][0]["sectionName"] == "http"]  # fmt: skip
    (only,) = redirect
    (rule,) = only["spec"]["rules"]
    assert "backendRefs" not in rule
    assert rule["filters"][0]["requestRedirect"]["scheme"] == "https"
    # Envoy streams bodies; per connection it holds at most this much in memory.
    (client,) = of_kind(objs, "ClientTrafficPolicy").values()
    assert client["spec"]["targetRefs"][0]["name"] == gateway["metadata"]["name"]
    assert client["spec"]["connection"]["bufferLimit"] == "1Mi"
    proxy_ref = gateway["spec"]["infrastructure"]["parametersRef"]
    assert proxy_ref["name"] in of_kind(objs, "EnvoyProxy")


def test_gateway_api_rate_limits_uploads_per_client(kubectl: str) -> None:
    objs = render(kubectl, "prod")
    uploads = of_kind(objs, "HTTPRoute")["picupscaler-uploads"]
    (rule,) = uploads["spec"]["rules"]
    assert rule["matches"] == [{"method": "POST", "path": {"type": "Exact", "value": "/v1/jobs"}}]
    (policy,) = of_kind(objs, "BackendTrafficPolicy").values()
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "picupscaler-uploads"}
    ]
    rules = policy["spec"]["rateLimit"]["global"]["rules"]
    cidrs = {r["clientSelectors"][0]["sourceCIDR"]["value"] for r in rules}
    assert cidrs == {"0.0.0.0/0", "::/0"}
    for r in rules:
        assert r["clientSelectors"][0]["sourceCIDR"]["type"] == "Distinct"  # per client
        assert r["limit"] == {"requests": 30, "unit": "Minute"}


#: Parts of Envoy access-log operators that would record who asked for what.
FORBIDDEN_ENVOY = (
    "ADDRESS",  # DOWNSTREAM_REMOTE_ADDRESS and friends
    "X-FORWARDED-FOR",
    "X-REAL-IP",
    "USER-AGENT",
    "PATH",  # :PATH, X-ENVOY-ORIGINAL-PATH: job ids
    "REFERER",
    "COOKIE",
    "AUTHORIZATION",
    "SERVER_NAME",
)


def test_edge_logs_hold_no_client_address_path_or_user_agent(kubectl: str) -> None:
    (proxy,) = of_kind(render(kubectl, "prod"), "EnvoyProxy").values()
    settings = proxy["spec"]["telemetry"]["accessLog"]["settings"]
    assert settings
    for setting in settings:
        text = setting["format"]["text"]
        operators = re.findall(r"%[A-Z_]+(?:\([^)]*\))?%", text)
        assert operators, text
        leaks = [op for op in operators if any(f in op.upper() for f in FORBIDDEN_ENVOY)]
        assert not leaks, text
    for name, ingress in of_kind(render(kubectl, "prod-ingress"), "Ingress").items():
        annotations = ingress["metadata"]["annotations"]
        assert annotations["nginx.ingress.kubernetes.io/enable-access-log"] == "false", name


def test_ingress_streams_bodies_and_limits_uploads(kubectl: str) -> None:
    objs = render(kubectl, "prod-ingress")
    ingresses = of_kind(objs, "Ingress")
    upload_limit = int(container_env(objs, "gateway")["JOBS_MAX_UPLOAD_BYTES"] or 0)
    for name, ingress in ingresses.items():
        a = ingress["metadata"]["annotations"]
        assert a["cert-manager.io/cluster-issuer"], name
        assert ingress["spec"]["tls"][0]["secretName"] == "picupscaler-tls"
        # No copy of an upload or a result on the controller's disk.
        assert a["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off", name
        assert a["nginx.ingress.kubernetes.io/proxy-buffering"] == "off", name
        assert a["nginx.ingress.kubernetes.io/proxy-max-temp-file-size"] == "0", name
    uploads = ingresses["gateway-uploads"]
    a = uploads["metadata"]["annotations"]
    assert a["nginx.ingress.kubernetes.io/proxy-body-size"] == "26m"
    assert upload_limit < 26 * 1024 * 1024
    assert a["nginx.ingress.kubernetes.io/limit-rpm"] == "30"
    (path,) = [p for r in uploads["spec"]["rules"] for p in r["http"]["paths"]]
    assert (path["path"], path["pathType"]) == ("/v1/jobs", "Exact")
    # A Prefix "/" would publish /metrics.
    for _, kind, value in ingress_paths(objs):
        assert value != "/" or kind == "Exact"

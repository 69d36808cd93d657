"""Minimising technical information at the edge: what is kept about a request, and no more.

Kept: the client's network (IPv4 /24, IPv6 /48), country (from the bundled geoip2fast
database: no lookup leaves the process), browser family and major version, OS family, device
class, the referrer's origin (scheme and host, never its path or query), and the time to the
minute. It is stored only in the job's manifest (deleted with the job) and never as a full IP.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

from gateway.settings import GatewaySettings
from shared.manifest import ClientInfo

#: Set by the web page's "don't count my uploads" switch.
OPT_OUT_COOKIE = "pu_analytics_opt_out"


def truncate_ip(address: str | None) -> str | None:
    """Return the address's network, IPv4 /24 or IPv6 /48, so no single person is named."""
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def opted_out(headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
    """True when a request asked not to be counted: Sec-GPC: 1, DNT: 1 or the page's cookie."""
    return (
        headers.get("sec-gpc", "").strip() == "1"
        or headers.get("dnt", "").strip() == "1"
        or cookies.get(OPT_OUT_COOKIE, "") == "1"
    )


@functools.lru_cache(maxsize=1)
def _geoip() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(verbose=False)


def country_of(address: str | None) -> str | None:
    """ISO country code of an address, from the bundled database; None when unknown."""
    if not address:
        return None
    try:
        code = _geoip().lookup(address).country_code
    except Exception:  # malformed or private address: unknown is the right answer
        return None
    return code if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


@functools.lru_cache(maxsize=512)
def _parse_agent(user_agent: str) -> tuple[str | None, str | None, str | None, str]:
    from ua_parser import parse

    parsed = parse(user_agent)
    agent, os_, device = parsed.user_agent, parsed.os, parsed.device
    family = device.family if device else None
    if family == "Spider":
        device_class = "bot"
    elif family in ("iPad",) or (family or "").lower().startswith("tablet"):
        device_class = "tablet"
    elif os_ is not None and os_.family in ("iOS", "Android") or "Mobile" in user_agent:
        device_class = "mobile"
    elif os_ is not None and os_.family in ("Windows", "Mac OS X", "Linux", "Chrome OS", "Ubuntu"):
        device_class = "desktop"
    else:
        device_class = "other"
    return (
        agent.family if agent else None,
        agent.major if agent else None,
        os_.family if os_ else None,
        device_class,
    )


def referrer_origin(referrer: str | None) -> str | None:
    """``scheme://host[:port]`` of a referrer: the page a user came from is not kept."""
    if not referrer:
        return None
    try:
        parts = urlsplit(referrer)
        port = parts.port  # raises ValueError for a port out of range or not a number
        host = parts.hostname
    except ValueError:  # also a malformed IPv6 host: a hostile header is simply not kept
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}"


def minimise(
    address: str | None,
    user_agent: str | None,
    referrer: str | None,
    now: datetime | None = None,
) -> ClientInfo:
    """Reduce a request's technical information to what the privacy policy allows."""
    browser = major = os_family = None
    device_class = "other"
    if user_agent:
        browser, major, os_family, device_class = _parse_agent(user_agent[:512])
    moment = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    return ClientInfo(
        network=truncate_ip(address),
        country=country_of(address),
        browser=browser,
        browser_major=major,
        os=os_family,
        device_class=device_class,
        referrer_origin=referrer_origin(referrer),
        time=moment,
    )


def client_address(request: Request, settings: GatewaySettings) -> str | None:
    """The client's address: the ingress's X-Forwarded-For when trusted, else the peer."""
    if settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else None

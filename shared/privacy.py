"""Minimising technical information at the edge."""

from __future__ import annotations

import ipaddress


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

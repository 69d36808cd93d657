"""Which webhook URLs are allowed, and the one resolution a delivery is pinned to.

A webhook makes the service send a request to an address the client chose: the classic
server-side request forgery (SSRF) opening. The rules here close it:

* the URL is checked on its own (:func:`parse_webhook_url`): ``https`` only by default,
  bounded length, printable ASCII only, no credentials, no fragment, a valid host name;
* the host is resolved **once** and **every** address it resolves to is checked
  (:func:`pin_target`): private, loopback, link-local, multicast, reserved, unspecified and
  other non-public ranges are refused, including IPv4 addresses hidden in IPv6 ones
  (``::ffff:127.0.0.1``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``);
* the request then goes to one of those checked addresses itself (:mod:`.pinned`), never
  to the name again, so a DNS answer that changes between check and use (DNS rebinding)
  cannot move it.

Hand-written because no library found does the whole of it: :mod:`ipaddress` gives the
ranges (used here), but not the embedded-IPv4 unwrapping nor the pinning.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from shared.errors import PicUpscalerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``resolver(host, port)``: the addresses (text) the host resolves to, in preference order.
Resolver = Callable[[str, int], Sequence[str]]

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+", re.ASCII)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
#: Ranges refused although ``ipaddress`` calls them global (none today; kept explicit so a
#: change of Python's registry tables cannot open one silently).
_ALSO_REFUSED: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT: some clouds' metadata lives here
)


class WebhookTargetRefused(PicUpscalerError):
    """Raised when a webhook URL, or an address its host resolves to, is not allowed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookHostUnresolved(WebhookTargetRefused):
    """Raised when a webhook URL's host does not resolve (may be transient at delivery)."""


@dataclass(frozen=True)
class WebhookUrl:
    """A checked webhook URL, split into what the request needs."""

    url: str
    scheme: str
    #: The host name (or IP literal, without brackets), lower-case.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str

    @property
    def host_header(self) -> str:
        """The ``Host`` header: the URL's host, with the port when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class PinnedTarget:
    """A webhook URL with the checked addresses its host resolved to (tried in this order)."""

    url: WebhookUrl
    addresses: tuple[str, ...]


def parse_webhook_url(url: str, *, allow_http: bool, max_length: int) -> WebhookUrl:
    """Check the URL itself (no network); raise :class:`WebhookTargetRefused` saying why."""
    if len(url) > max_length:
        raise WebhookTargetRefused(f"webhook_url is longer than {max_length} characters.")
    if not _PRINTABLE_ASCII.fullmatch(url) or "\\" in url:
        raise WebhookTargetRefused(
            "webhook_url must be printable ASCII without spaces or backslashes "
            "(write international host names in their xn-- form)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookTargetRefused("webhook_url is not a valid URL.") from None
    schemes = ("https", "http") if allow_http else ("https",)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise WebhookTargetRefused(f"webhook_url must start with {' or '.join(schemes)}://.")
    if "@" in parts.netloc:
        raise WebhookTargetRefused("webhook_url must not contain a user name or password.")
    if parts.fragment or url.endswith("#"):
        raise WebhookTargetRefused("webhook_url must not contain a fragment (#...).")
    host = (parts.hostname or "").rstrip(".")
    if not host or not _valid_host(host):
        raise WebhookTargetRefused("webhook_url must name a valid host.")
    if port == 0:
        raise WebhookTargetRefused("webhook_url must not use port 0.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = 443 if scheme == "https" else 80
    return WebhookUrl(url, scheme, host, port or default_port, target)


def _valid_host(host: str) -> bool:
    if ":" in host:  # an IPv6 literal (urlsplit took it out of its brackets)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if len(host) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in host.split("."))


def refusal_reason(address: IPAddress) -> str | None:
    """Why a delivery to ``address`` is refused (a short phrase), or None when it is public.

    IPv4 addresses carried inside IPv6 ones (mapped, 6to4, NAT64) are judged as the IPv4
    address they reach.
    """
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = refusal_reason(embedded)
            return f"{reason} (inside an IPv6 address)" if reason else None
        if address.scope_id:
            return "scoped"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", any(address in net for net in _ALSO_REFUSED)),
        ("non-public", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4 or NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to through the system resolver, first seen first."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookHostUnresolved(f"The host of webhook_url does not resolve ({exc}).") from None
    seen: dict[str, None] = {}
    for *_, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def pin_target(url: WebhookUrl, *, resolver: Resolver, allow_private: bool) -> PinnedTarget:
    """Resolve the host once and check every address; the result is what delivery connects to.

    One refused address refuses the whole URL: a name that resolves to a public and a private
    address could otherwise be made to reach the private one.
    """
    addresses = tuple(resolver(url.host, url.port))
    if not addresses:
        raise WebhookHostUnresolved("The host of webhook_url resolves to no address.")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise WebhookTargetRefused(
                "The host of webhook_url resolved to a non-address."
            ) from None
        reason = None if allow_private else refusal_reason(address)
        if reason is not None:
            raise WebhookTargetRefused(
                f"webhook_url resolves to a {reason} address; only public hosts are allowed."
            )
    return PinnedTarget(url, addresses)


def check_webhook_url(
    url: str,
    *,
    allow_http: bool,
    allow_private: bool,
    max_length: int,
    resolver: Resolver = system_resolver,
) -> PinnedTarget:
    """The whole check (URL, then every resolved address): what the gateway runs at upload
    and the worker again before each delivery."""
    parsed = parse_webhook_url(url, allow_http=allow_http, max_length=max_length)
    return pin_target(parsed, resolver=resolver, allow_private=allow_private)

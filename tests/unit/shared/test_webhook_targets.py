"""Which webhook URLs and addresses are refused (no network: resolvers are given)."""

from __future__ import annotations

import ipaddress

import pytest

from shared.webhooks import (
    WebhookHostUnresolved,
    WebhookTargetRefused,
    check_webhook_url,
    parse_webhook_url,
    pin_target,
    refusal_reason,
    system_resolver,
)

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


def resolving_to(*addresses: str):  # noqa: ANN201 - a resolver
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return list(addresses)

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


def check(url: str, resolver, *, allow_private: bool = False, allow_http: bool = False):  # noqa: ANN001, ANN201
    return check_webhook_url(
        url,
        allow_http=allow_http,
        allow_private=allow_private,
        max_length=2048,
        resolver=resolver,
    )


REFUSED = [
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),  # reserved (Python files 240/4 under private first)
    ("255.255.255.255", "private"),  # broadcast (Python files it under private)
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("100.100.100.200", "non-public"),  # a cloud's metadata address inside CGNAT space
    ("192.0.2.10", "private"),  # documentation (TEST-NET-1)
    ("198.18.0.1", "private"),  # benchmarking
    # IPv6
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fd00::1", "private"),
    ("fdff:ffff::1", "private"),
    ("fc00::1", "private"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "private"),  # documentation
    ("::ffff:127.0.0.1", "loopback (inside an IPv6 address)"),
    ("::ffff:169.254.169.254", "link-local (inside an IPv6 address)"),
    ("::ffff:10.1.2.3", "private (inside an IPv6 address)"),
    ("2002:7f00:1::1", "loopback (inside an IPv6 address)"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::", "link-local (inside an IPv6 address)"),  # 6to4 of 169.254.169.254
    ("64:ff9b::7f00:1", "loopback (inside an IPv6 address)"),  # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local (inside an IPv6 address)"),
    ("::127.0.0.1", "reserved"),  # IPv4-compatible (deprecated)
    ("fe80::1%eth0", "scoped"),
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_every_non_public_range_is_refused(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason
    with pytest.raises(WebhookTargetRefused, match="only public hosts"):
        check("https://hooks.example.com/x", resolving_to(address))


@pytest.mark.parametrize(
    "address", [PUBLIC_V4, PUBLIC_V6, "8.8.8.8", "::ffff:8.8.8.8", "2002:5db8:d70e::1"]
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None
    target = check("https://hooks.example.com/x?a=1", resolving_to(address))
    assert target.addresses == (address,)
    assert target.url.host == "hooks.example.com" and target.url.target == "/x?a=1"


def test_one_private_address_among_public_ones_refuses_the_url() -> None:
    with pytest.raises(WebhookTargetRefused):
        check("https://hooks.example.com/", resolving_to(PUBLIC_V4, "10.0.0.7", PUBLIC_V6))


def test_the_host_is_resolved_once() -> None:
    resolver = resolving_to(PUBLIC_V4)
    check("https://hooks.example.com/", resolver)
    assert resolver.calls == ["hooks.example.com"]


def test_private_targets_pass_when_the_deployment_allows_them() -> None:
    target = check("https://hooks.internal/", resolving_to("10.0.0.7"), allow_private=True)
    assert target.addresses == ("10.0.0.7",)


def test_ip_literals_and_odd_spellings_are_judged_by_what_they_reach() -> None:
    # The system resolver turns these spellings into 127.0.0.1 without asking DNS.
    for url in ("https://127.0.0.1/", "https://2130706433/", "https://0x7f.1/", "https://[::1]/"):
        with pytest.raises(WebhookTargetRefused):
            check(url, system_resolver)
    with pytest.raises(WebhookTargetRefused):
        check("https://[::ffff:127.0.0.1]:8443/hook", system_resolver)
    with pytest.raises(WebhookTargetRefused):
        check("https://localhost/", system_resolver)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.com/", "must start with https://"),
        ("ftp://hooks.example.com/", "must start with https://"),
        ("hooks.example.com/path", "must start with https://"),
        ("https://user:pw@hooks.example.com/", "user name or password"),
        ("https://user@hooks.example.com/", "user name or password"),
        ("https://hooks.example.com/#frag", "fragment"),
        ("https://hooks.example.com /", "printable ASCII"),
        ("https://hooks.example.com/\n", "printable ASCII"),
        ("https://hööks.example.com/", "printable ASCII"),
        ("https://hooks.example.com\\@10.0.0.1/", "backslashes"),
        ("https://hooks.example.com:99999/", "not a valid URL"),
        ("https://hooks.example.com:0/", "port 0"),
        ("https:///path", "valid host"),
        ("https://-bad-.example.com/", "valid host"),
        ("https://%31%32%37.0.0.1/", "valid host"),
        ("https://" + "a" * 64 + ".example.com/", "valid host"),
        ("https://hooks.example.com/" + "a" * 2100, "longer than 2048"),
    ],
)
def test_bad_urls_are_refused_before_any_lookup(url: str, why: str) -> None:
    resolver = resolving_to(PUBLIC_V4)
    with pytest.raises(WebhookTargetRefused, match=why):
        check(url, resolver)
    assert resolver.calls == []


def test_http_only_when_allowed() -> None:
    target = check("http://hooks.example.com:8080/in", resolving_to(PUBLIC_V4), allow_http=True)
    assert target.url.port == 8080 and target.url.host_header == "hooks.example.com:8080"


def test_host_header_keeps_the_url_host() -> None:
    assert (
        parse_webhook_url(
            "https://Hooks.Example.com./x", allow_http=False, max_length=100
        ).host_header
        == "hooks.example.com"
    )
    v6 = parse_webhook_url("https://[2606:2800::1]:8443/", allow_http=False, max_length=100)
    assert v6.host == "2606:2800::1" and v6.host_header == "[2606:2800::1]:8443"


def test_a_host_that_resolves_to_nothing_is_refused() -> None:
    url = parse_webhook_url("https://hooks.example.com/", allow_http=False, max_length=100)
    with pytest.raises(WebhookHostUnresolved):
        pin_target(url, resolver=resolving_to(), allow_private=False)
    with pytest.raises(WebhookHostUnresolved):
        system_resolver("no-such-host.invalid", 443)

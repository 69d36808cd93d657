from datetime import UTC, datetime

from gateway.client_info import minimise

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def test_request_information_is_minimised() -> None:
    info = minimise(
        "8.8.8.8",
        IPHONE,
        "https://example.com:8443/private/page?user=alice#x",
        datetime(2026, 11, 26, 13, 45, 59, 123, tzinfo=UTC),
    )
    assert info.network == "8.8.8.0/24"
    assert info.country == "US"
    assert (info.browser, info.browser_major, info.os) == ("Mobile Safari", "17", "iOS")
    assert info.device_class == "mobile"
    assert info.referrer_origin == "https://example.com:8443"
    assert info.time == datetime(2026, 11, 26, 13, 45, tzinfo=UTC)
    dumped = info.model_dump_json()
    assert "8.8.8.8" not in dumped and "alice" not in dumped and "private" not in dumped


def test_desktop_ipv6_and_junk() -> None:
    info = minimise("2001:db8:1234:5678::1", FIREFOX, "javascript:alert(1)")
    assert info.network == "2001:db8:1234::/48"
    assert (info.browser, info.os, info.device_class) == ("Firefox", "Linux", "desktop")
    assert info.referrer_origin is None
    empty = minimise(None, None, None)
    assert empty.network is None and empty.country is None and empty.device_class == "other"

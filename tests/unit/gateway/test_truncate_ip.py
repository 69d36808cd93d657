import pytest

from gateway.client_info import truncate_ip


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12:34::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("not an ip", None),
        (None, None),
    ],
)
def test_addresses_are_truncated(address: str | None, expected: str | None) -> None:
    assert truncate_ip(address) == expected

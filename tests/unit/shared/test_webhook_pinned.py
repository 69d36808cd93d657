"""The pinned webhook request, against real receivers on loopback addresses (no DNS: the
resolver is a parameter, so a test decides what a name resolves to and when)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from shared.webhooks import (
    PinnedTarget,
    WebhookDeliveryFailed,
    check_webhook_url,
    post_pinned,
)
from tests.support.receiver import make_certificates, start_receiver

HOST = "hooks.example.test"
PUBLIC = "93.184.215.14"


def answers(*rounds: Sequence[str]) -> Callable[[str, int], Sequence[str]]:
    """A resolver that gives ``rounds[0]`` on the first call, ``rounds[1]`` on the next, ..."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return rounds[min(len(calls), len(rounds)) - 1]

    resolver.calls = calls  # type: ignore[attr-defined]
    return resolver


def target(url: str, resolver: Callable[[str, int], Sequence[str]], **kw: bool) -> PinnedTarget:
    return check_webhook_url(
        url,
        allow_http=kw.get("allow_http", True),
        allow_private=kw.get("allow_private", True),
        max_length=2048,
        resolver=resolver,
    )


def post(pinned: PinnedTarget, **kw: object):  # noqa: ANN201
    return post_pinned(
        pinned,
        b'{"id":"j"}',
        {"Content-Type": "application/json", "X-Test": "1"},
        connect_timeout=float(kw.get("connect_timeout", 2.0)),  # type: ignore[arg-type]
        read_timeout=float(kw.get("read_timeout", 2.0)),  # type: ignore[arg-type]
        ssl_context=kw.get("ssl_context"),  # type: ignore[arg-type]
    )


def test_http_goes_to_the_checked_address_with_the_urls_host() -> None:
    with start_receiver("127.0.0.1") as receiver:
        pinned = target(f"http://{HOST}:{receiver.port}/in?x=1", answers(["127.0.0.1"]))
        answer = post(pinned)
        got = receiver.next_delivery(5)
    assert answer.status == 200 and answer.ok and answer.address == "127.0.0.1"
    assert got.method == "POST" and got.path == "/in?x=1"
    assert got.headers["Host"] == f"{HOST}:{receiver.port}"
    assert got.body == b'{"id":"j"}' and got.headers["X-Test"] == "1"


def test_https_sends_sni_and_verifies_the_certificate_for_the_urls_host(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, HOST)
    with start_receiver("127.0.0.1", tls=certs.server_context) as receiver:
        pinned = target(f"https://{HOST}:{receiver.port}/hook", answers(["127.0.0.1"]))
        answer = post(pinned, ssl_context=certs.client_context())
        got = receiver.next_delivery(5)
    assert answer.status == 200
    assert got.sni == HOST  # TLS was told the name, while the socket went to 127.0.0.1
    assert got.headers["Host"] == f"{HOST}:{receiver.port}"


def test_https_refuses_a_certificate_for_another_name(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path, "other.example.test")
    with start_receiver("127.0.0.1", tls=certs.server_context) as receiver:
        pinned = target(f"https://{HOST}:{receiver.port}/hook", answers(["127.0.0.1"]))
        with pytest.raises(WebhookDeliveryFailed, match="SSLError"):
            post(pinned, ssl_context=certs.client_context())
        assert receiver.deliveries.empty()


def test_dns_rebinding_to_loopback_after_the_check_is_not_followed() -> None:
    """Public at the check, 127.0.0.1 afterwards: the request goes to the public address (and,
    with no route there from this machine, fails), never to the loopback receiver."""
    with start_receiver("127.0.0.1") as receiver:
        resolver = answers([PUBLIC], ["127.0.0.1"])
        pinned = target(f"https://{HOST}:{receiver.port}/", resolver, allow_private=False)
        assert pinned.addresses == (PUBLIC,)
        with pytest.raises(WebhookDeliveryFailed) as failed:
            post(pinned, connect_timeout=0.5)
        assert failed.value.tried == (PUBLIC,)
        assert resolver.calls == [HOST]  # resolved once, at the check
        # A request to the receiver would have been answered (no raise), and the receiver
        # records a request before it answers: so nothing can still be on its way.
        assert receiver.deliveries.empty()


def test_dns_rebinding_between_two_live_receivers_keeps_the_first_answer() -> None:
    """The same, end to end on real sockets: the name first resolves to 127.0.0.1, then to
    127.0.0.2 (both listening on the same port); only the first receiver is reached."""
    with (
        start_receiver("127.0.0.1") as first,
        start_receiver("127.0.0.2", port=first.port) as second,
    ):
        resolver = answers(["127.0.0.1"], ["127.0.0.2"])
        pinned = target(f"http://{HOST}:{first.port}/", resolver)
        for _ in range(3):
            assert post(pinned).address == "127.0.0.1"
            first.next_delivery(5)
        assert resolver.calls == [HOST]
        assert second.deliveries.empty()


def test_a_refused_connection_moves_on_to_the_next_checked_address() -> None:
    with start_receiver("127.0.0.1") as receiver:
        pinned = target(f"http://{HOST}:{receiver.port}/", answers(["127.0.0.3", "127.0.0.1"]))
        answer = post(pinned)
        receiver.next_delivery(5)
    assert answer.address == "127.0.0.1"


def test_a_request_sent_but_unanswered_is_not_sent_to_another_address() -> None:
    with socket.socket() as silent, start_receiver("127.0.0.1") as receiver:
        silent.bind(("127.0.0.4", receiver.port))
        silent.listen()  # the kernel accepts the connection; nobody ever answers
        pinned = target(f"http://{HOST}:{receiver.port}/", answers(["127.0.0.4", "127.0.0.1"]))
        started = time.monotonic()
        with pytest.raises(WebhookDeliveryFailed, match="ReadTimeoutError") as failed:
            post(pinned, read_timeout=0.5)
        assert time.monotonic() - started < 5
        assert failed.value.tried == ("127.0.0.4",)
        assert receiver.deliveries.empty()


def test_redirects_are_not_followed() -> None:
    with start_receiver("127.0.0.1") as receiver:
        receiver.statuses.append(302)
        pinned = target(f"http://{HOST}:{receiver.port}/", answers(["127.0.0.1"]))
        answer = post(pinned)
        receiver.next_delivery(5)
        # A followed redirect would have been made before post() returned.
        assert receiver.deliveries.empty()  # no request to /redirected
    assert answer.status == 302 and not answer.ok

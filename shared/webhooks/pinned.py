"""One webhook request, sent to an address checked beforehand and never to the name again.

urllib3 (already every service's HTTP client, through minio) connects to the checked IP
address while TLS is told the URL's host name: ``server_hostname`` sets SNI and the name the
certificate must match, and the ``Host`` header carries it to the application. Nothing here
resolves the name, so an answer that changes after the check (DNS rebinding) is never seen.
Redirects are not followed (a redirect could point anywhere), environment proxies are not
used (urllib3's pools read none), timeouts are short and the answer's body is read only up to
a few KB, then dropped.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError

from shared.errors import PicUpscalerError
from shared.webhooks.targets import PinnedTarget, WebhookUrl


class WebhookDeliveryFailed(PicUpscalerError):
    """Raised when a webhook request got no HTTP answer (connection, TLS or timeout)."""

    def __init__(self, reason: str, tried: tuple[str, ...]) -> None:
        super().__init__(reason)
        #: The checked addresses a connection was attempted to, in order.
        self.tried = tried


@dataclass(frozen=True)
class WebhookAnswer:
    """The receiver's answer: its status, and the checked address that gave it."""

    status: int
    address: str

    @property
    def ok(self) -> bool:
        """A 2xx answer: delivered (anything else, redirects included, is tried again)."""
        return 200 <= self.status < 300


def post_pinned(
    target: PinnedTarget,
    body: bytes,
    headers: Mapping[str, str],
    *,
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int = 4096,
    ssl_context: ssl.SSLContext | None = None,
) -> WebhookAnswer:
    """POST ``body`` to the target's checked addresses, in order, until one accepts the
    connection; return its answer or raise :class:`WebhookDeliveryFailed`.

    Only a failure to connect moves on to the next address: once a request was sent it is
    never sent again here (the retry schedule decides that). ``ssl_context`` replaces the
    system's trust store (a private CA); hostname checking stays on.
    """
    timeout = urllib3.Timeout(connect=connect_timeout, read=read_timeout)
    failure = "no address"
    tried: list[str] = []
    for address in target.addresses:
        tried.append(address)
        pool = _pool(target.url, address, timeout, ssl_context)
        try:
            response = pool.urlopen(
                "POST",
                target.url.target,
                body=body,
                headers={**headers, "Host": target.url.host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                with contextlib.suppress(HTTPError, OSError):  # the body is not ours to judge
                    response.read(max_response_bytes, decode_content=False)
            finally:
                response.close()
            return WebhookAnswer(response.status, address)
        except ConnectTimeoutError as exc:  # also NewConnectionError: refused, unreachable
            failure = type(exc).__name__
            continue
        except HTTPError as exc:  # TLS, read timeout, a broken answer: sent, so not repeated
            raise WebhookDeliveryFailed(type(exc).__name__, tuple(tried)) from None
        finally:
            pool.close()
    raise WebhookDeliveryFailed(f"could not connect ({failure})", tuple(tried))


def _pool(
    url: WebhookUrl, address: str, timeout: urllib3.Timeout, ssl_context: ssl.SSLContext | None
) -> urllib3.HTTPConnectionPool:
    """A one-connection pool to ``address`` for ``url``: TLS verified against the URL's host."""
    if url.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            address,
            url.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=url.host,
            cert_reqs="CERT_REQUIRED",
            ssl_context=ssl_context,
        )
    return urllib3.HTTPConnectionPool(address, url.port, timeout=timeout, retries=False, maxsize=1)

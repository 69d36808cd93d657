"""A real webhook receiver on a loopback address (HTTP, or HTTPS with its own test CA), which
records every request it gets and answers with the statuses it is told to."""

from __future__ import annotations

import contextlib
import datetime
import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Delivery:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: The TLS server name (SNI) the client sent; None over plain HTTP or without SNI.
    sni: str | None
    #: The local address the request arrived on.
    local_address: str


@dataclass
class Receiver:
    """A running receiver: its port, what it got, and what it answers next."""

    server: ThreadingHTTPServer
    deliveries: queue.Queue[Delivery] = field(default_factory=queue.Queue)
    #: Statuses to answer with, in order; when used up, 200.
    statuses: list[int] = field(default_factory=list)
    sni_seen: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def next_delivery(self, timeout: float) -> Delivery:
        """The next request, or an AssertionError after ``timeout`` seconds."""
        try:
            return self.deliveries.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no webhook request within {timeout}s") from None


def _handler(receiver_ref: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            receiver = receiver_ref[0]
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            sni = getattr(self.connection, "sni_name", None)
            receiver.deliveries.put(
                Delivery(
                    self.command,
                    self.path,
                    {k: v for k, v in self.headers.items()},
                    body,
                    sni,
                    self.connection.getsockname()[0],
                )
            )
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            if 300 <= status < 400:  # a redirect to this same receiver: it must not be followed
                self.send_header("Location", "/redirected")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    return Handler


@contextlib.contextmanager
def start_receiver(
    host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, port: int = 0
) -> Iterator[Receiver]:
    """Serve on ``host`` (a fresh port unless given) until the generator is closed."""
    ref: list[Receiver] = []
    server = ThreadingHTTPServer((host, port), _handler(ref))
    receiver = Receiver(server)
    ref.append(receiver)
    if tls is not None:

        def remember_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
            sock.sni_name = name  # type: ignore[union-attr]
            receiver.sni_seen.append(name)

        tls.sni_callback = remember_sni  # type: ignore[assignment]
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class TestCertificates:
    """A test CA and a server certificate it signed, as files and contexts."""

    ca_file: Path
    server_context: ssl.SSLContext

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA (hostname checking on)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_certificates(directory: Path, server_name: str) -> TestCertificates:
    """A throw-away CA and a certificate for ``server_name`` (DNS name) signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PicUpscaler test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file = directory / "server.pem"
    cert_file.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert_file))
    return TestCertificates(ca_file, server)

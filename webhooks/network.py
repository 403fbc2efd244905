"""Posting to an endpoint without letting its URL reach inside our network (SSRF).

The host is resolved once, at connect time; every address it resolves to is checked (private,
loopback, link-local, reserved and multicast ones are refused unless a network of
WEBHOOK_ALLOWED_NETWORKS has them) and the connection goes to the checked address itself, so
a second resolution cannot swap it (no TOCTOU). TLS is verified against the host's name.
Redirects are never followed (http.client does not), and every step has a timeout.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

ANSWER_KEPT = 2048


class Refused(Exception):
    """The URL may not be called: scheme, or an address the checks refuse."""


@dataclass
class Answer:
    status: int
    body: str
    retry_after: str
    duration_ms: int


def check_url(url: str) -> None:
    """Raise Refused unless `url` is https (or http where allowed) with a host."""
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.DEBUG or settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise Refused(f"the URL must use {' or '.join(allowed)}")
    if not parts.hostname:
        raise Refused("the URL has no host")


def _allowed_networks() -> list:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_NETWORKS]


def check_address(address: str) -> None:
    """Raise Refused for an address inside our networks, unless explicitly allowed."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        raise Refused(f"{ip} is a private, loopback, link-local or reserved address")


def resolve(host: str, port: int) -> tuple[int, tuple]:
    """The first address of `host` (family, sockaddr) that the checks allow; Refused if none
    is (every refused one named)."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:  # an address in the URL: checked as it is, nothing to resolve
        check_address(host)
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return family, (host, port)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from exc
    refusals = []
    for family, _type, _proto, _name, sockaddr in found:
        try:
            check_address(sockaddr[0])
        except Refused as exc:
            refusals.append(str(exc))
            continue
        return family, sockaddr
    raise Refused("; ".join(dict.fromkeys(refusals)) or f"{host} has no address")


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    family, sockaddr = resolve(host, port)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(sockaddr)
    except OSError:
        sock.close()
        raise
    return sock


class _Http(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = _connect(self.host, self.port, self.timeout)


class _Https(http.client.HTTPSConnection):
    def connect(self) -> None:
        sock = _connect(self.host, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST `body` to `url` as checked above; the answer (status, first 2 KB, Retry-After).
    Raises Refused, or OSError / http.client.HTTPException when the exchange fails."""
    check_url(url)
    parts = urlsplit(url)
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    # The port always given: http.client would read the last part of an IPv6 host as one.
    if parts.scheme == "https":
        connection = _Https(
            parts.hostname, parts.port or 443, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = _Http(parts.hostname, parts.port or 80, timeout=timeout)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    started = time.monotonic()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(ANSWER_KEPT).decode("utf-8", errors="replace")
        retry_after = response.getheader("Retry-After", "")
        status = response.status
    finally:
        connection.close()
    duration = int((time.monotonic() - started) * 1000)
    return Answer(status, text, retry_after, duration)

"""One webhook POST, made so that a partner's URL cannot turn the platform
against its own network (server-side request forgery) or hold a worker.

- The host is resolved **once** and every address it resolves to is checked
  (`address_refusal`); the connection is then made to an address that was
  checked, never to whatever a second DNS answer says (DNS rebinding). TLS
  still verifies the certificate for the host name (SNI), and the Host header
  names the host.
- Redirects are **not followed**: a 3xx is an outcome like any other.
- One **deadline** covers the whole attempt: resolving, connecting, the TLS
  handshake, sending, and reading the status line and headers. Every socket
  operation gets only the time that is left, and reading stops when none is,
  so a receiver that drips one byte a second cannot stretch an attempt.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from moderation.models import AttemptOutcome

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never called, whatever the settings: besides what `is_global` already
# refuses, ranges that Python (3.11) calls global or that translate to IPv4
# addresses we cannot see (NAT64), and cloud metadata (link-local).
_NEVER = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # carrier-grade NAT
        "169.254.0.0/16",  # link-local, cloud metadata services
        "192.0.0.0/24",  # IETF protocol assignments (incl. 192.0.0.9/10, which 3.11 calls global)
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/96",  # unspecified and IPv4-compatible (deprecated) addresses
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765): a stateless translator reaches the IPv4 address
        "64:ff9b::/96",  # NAT64, well-known prefix
        "64:ff9b:1::/48",  # NAT64, local-use prefix
        "100::/64",  # discard
        "2001::/32",  # Teredo
        "2001:db8::/32",  # documentation
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
# Allowed only with WEBHOOK_ALLOW_PRIVATE_ADDRESSES (local runs and tests).
_LOCAL_DEVELOPMENT = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::1/128",
        "fc00::/7",
    )
)

# Test seam: exact (address, port) pairs to treat as public, so that a test can
# reach a receiver on loopback while every other address, a redirect target on
# loopback included, is checked as in production. Empty outside tests.
TEST_PUBLIC_SOCKETS: frozenset[tuple[str, int]] = frozenset()

_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


class UnsafeAddress(Exception):
    pass


class Unresolvable(UnsafeAddress):
    pass


class AttemptTimeout(TimeoutError):
    pass


@dataclass(frozen=True)
class AttemptResult:
    outcome: str
    status_code: int | None = None
    error: str = ""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.seconds = seconds

    def remaining(self) -> float:
        """Seconds left; raises AttemptTimeout when none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise AttemptTimeout(f"the attempt's deadline of {self.seconds:g} s passed")
        return left


def address_refusal(address: IPAddress, *, port: int = 0, allow_private: bool = False) -> str | None:
    """Why the platform may not connect to this address, or None if it may."""
    if (str(address), port) in TEST_PUBLIC_SOCKETS:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # on a dual-stack socket, the IPv4 address itself
            return address_refusal(address.ipv4_mapped, allow_private=allow_private)
        for kind, ipv4 in _routed_ipv4(address):
            if address_refusal(ipv4) is not None:
                return f"{address} is {kind} for the non-public {ipv4}"
    if allow_private and any(address in network for network in _LOCAL_DEVELOPMENT):
        return None
    for network in _NEVER:
        if address.version == network.version and address in network:
            return f"{address} is in {network}"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _routed_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses a global IPv6 address is routed to by a tunnel,
    checked as IPv4 addresses. The forms a translator answers for whatever
    IPv4 address they embed (IPv4-compatible, IPv4-translated, NAT64, Teredo)
    are in _NEVER; IPv4-mapped is the IPv4 address itself."""
    found = []
    if address.sixtofour is not None:
        found.append(("6to4", address.sixtofour))
    interface_id = int(address) & ((1 << 64) - 1)
    if interface_id >> 32 in (0x00005EFE, 0x02005EFE):  # ISATAP (RFC 5214), under any prefix
        found.append(("ISATAP", ipaddress.IPv4Address(interface_id & 0xFFFFFFFF)))
    return found


def resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order (a seam for tests)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def vetted_addresses(host: str, port: int, *, allow_private: bool, deadline: Deadline | None = None) -> list[str]:
    """Resolve once; every address must pass, or UnsafeAddress names the first that fails."""
    try:
        if deadline is None:
            raw = resolve(host, port)
        else:  # getaddrinfo has no timeout of its own
            raw = _resolver_pool.submit(resolve, host, port).result(timeout=deadline.remaining())
    except TimeoutError:
        raise AttemptTimeout(f"resolving {host} took longer than the attempt's deadline") from None
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({exc})") from None
    if not raw:
        raise Unresolvable(f"{host} does not resolve")
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in raw]
    for address in addresses:
        reason = address_refusal(address, port=port, allow_private=allow_private)
        if reason:
            raise UnsafeAddress(f"{host} resolves to a refused address: {reason}")
    return [str(a) for a in addresses]


class _DeadlineReader(io.RawIOBase):
    """Each read waits at most for the time left, and none once it is spent."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._sock.settimeout(self._deadline.remaining())
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What http.client needs of a socket, with the deadline applied."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._sock, self._deadline = sock, deadline

    def sendall(self, data) -> None:
        self._sock.settimeout(self._deadline.remaining())  # sendall's timeout covers the whole call
        self._sock.sendall(data)

    def makefile(self, mode: str = "rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to the vetted addresses of `host`, never a fresh lookup.

    The Host header and TLS (SNI and certificate check) use the host name."""

    def __init__(
        self, host: str, port: int, *, addresses: list[str], deadline: Deadline, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(host, port, timeout=deadline.remaining())
        self._addresses, self._deadline, self._tls = addresses, deadline, tls

    def connect(self) -> None:
        error: OSError | None = None
        for address in self._addresses:
            try:
                sock = socket.create_connection((address, self.port), timeout=self._deadline.remaining())
                break
            except AttemptTimeout:
                raise
            except OSError as exc:
                error = exc
        else:
            raise error or OSError("no address to connect to")
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                # The handshake's timeout covers the whole handshake (CPython keeps a deadline).
                sock.settimeout(self._deadline.remaining())
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = _DeadlineSocket(sock, self._deadline)


def tls_context() -> ssl.SSLContext:
    """Certificates verified against the system's CAs, for the host name (a seam for tests' own CA)."""
    return ssl.create_default_context()


def post(url: str, *, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> AttemptResult:
    """POST once; every ending is an AttemptResult, none an exception (but for
    the interpreter's own, such as a task's time limit)."""
    deadline = Deadline(timeout)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return AttemptResult(AttemptOutcome.REFUSED_ADDRESS, error="not an http(s) URL with a host")
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        return AttemptResult(AttemptOutcome.REFUSED_ADDRESS, error="the URL's port is not valid")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        addresses = vetted_addresses(parts.hostname, port, allow_private=allow_private, deadline=deadline)
        connection = PinnedConnection(
            parts.hostname, port, addresses=addresses, deadline=deadline, tls=tls_context() if https else None
        )
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            status, location = response.status, response.getheader("Location", "")
        finally:
            connection.close()
    except UnsafeAddress as exc:
        return AttemptResult(AttemptOutcome.REFUSED_ADDRESS, error=str(exc))
    except TimeoutError as exc:  # socket timeouts included
        return AttemptResult(
            AttemptOutcome.TIMEOUT, error=f"no complete answer within the attempt's deadline of {timeout:g} s ({exc})"
        )
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return AttemptResult(AttemptOutcome.CONNECTION_ERROR, error=f"{type(exc).__name__}: {exc}"[:1000])
    if 200 <= status < 300:
        return AttemptResult(AttemptOutcome.DELIVERED, status)
    if 300 <= status < 400:
        return AttemptResult(
            AttemptOutcome.REDIRECT, status, f"HTTP {status} redirect to {location[:300]!r} not followed"
        )
    return AttemptResult(AttemptOutcome.HTTP_ERROR, status, f"HTTP {status}")

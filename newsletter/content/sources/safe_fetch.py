"""Fetching a feed from public internet addresses only, with a cap on its size and its time.

A feed URL is typed by an editor, and every redirect is chosen by the feed's server, so neither
may make this server fetch from itself or its private network (loopback, a cloud metadata
address, an internal service). Each hop's host is resolved here, every address it resolves to is
checked, and the connection goes to the checked address itself (the Host header and TLS name
stay the host's), so a second DNS answer between the check and the connect changes nothing.
``AddressPolicy(allow_private=True)`` (NEWSLETTER_SOURCES_ALLOW_PRIVATE=1) lifts the check.

Errors say as little about a refused or unreachable address as they can: "refused", "closed"
and "filtered" read the same, so the messages cannot serve as a port scanner. ``FeedError.detail``
keeps the precise reason for the operator's command line.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from newsletter.content.sources.feeds import ACCEPT, DEFAULT_TIMEOUT, MAX_FEED_BYTES, USER_AGENT, FeedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses as text, like getaddrinfo
Permits = Callable[[IPAddress], bool]

MAX_REDIRECTS = 5
MAX_FETCH_SECONDS = 30.0  # the whole fetch, redirects included; DEFAULT_TIMEOUT bounds each wait
REDIRECTS = (301, 302, 303, 307, 308)
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # DNS64 answers on IPv6-only hosts embed the IPv4 address
ALLOW_HINT = "set NEWSLETTER_SOURCES_ALLOW_PRIVATE=1 to allow private addresses"


class AddressRefused(FeedError):
    """The host is not (only) on the public internet; the message does not say which address it has."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: IPAddress) -> bool:
    """True for a global unicast address; an IPv6 address carrying an IPv4 one is judged by that one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
        or address.is_reserved or address.is_unspecified
    )  # fmt: skip


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: 10.0.0.1, [::1], and the old forms 127.1 or 2130706433."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a feed may be fetched from; ``resolve`` and ``permits`` are swappable for tests."""

    allow_private: bool = False
    resolve: Resolver = field(default=system_resolver, compare=False)
    permits: Permits = field(default=is_public, compare=False)

    def check_name(self, host: str) -> None:
        """The check that needs no DNS (when a source is added): literal addresses and localhost."""
        if self.allow_private:
            return
        name = host.lower().rstrip(".")
        address = literal_address(name)
        if name == "localhost" or name.endswith(".localhost") or (address is not None and not self.permits(address)):
            raise AddressRefused(f"refused: {host} is not a public internet address ({ALLOW_HINT})")

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address of host, each checked; AddressRefused unless all are public (or allowed)."""
        neutral = f"refused: {host} does not resolve to a public internet address"
        self.check_name(host)
        try:
            found = [ipaddress.ip_address(text.split("%", 1)[0]) for text in self.resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise AddressRefused(neutral, detail=f"{host} could not be resolved: {exc}") from exc
        if not found:
            raise AddressRefused(neutral, detail=f"{host} has no addresses")
        private = [str(a) for a in found if not self.permits(a)]
        if private and not self.allow_private:
            # All or nothing: a name answering with one public and one private address is a rebinding trick.
            raise AddressRefused(f"{neutral} ({ALLOW_HINT})", detail=f"{host} resolves to {', '.join(private)}")
        return found


def fetch(url: str, *, timeout: float = DEFAULT_TIMEOUT, policy: AddressPolicy | None = None) -> bytes:
    """GET the feed, following redirects hop by hop; FeedError says why it could not be had."""
    policy = policy or AddressPolicy()
    deadline = time.monotonic() + MAX_FETCH_SECONDS
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    # trust_env off: through an HTTP proxy the proxy would resolve the name, past our check. No
    # keep-alive: the pool is keyed by address, and a TLS connection made for one name must not
    # carry a request for another name on the same address.
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(follow_redirects=False, trust_env=False, headers=headers, limits=no_reuse) as client:
        current = _url(url)
        for _ in range(MAX_REDIRECTS + 1):
            body, location = _hop(client, current, policy, timeout, deadline)
            if location is None:
                return body
            try:
                current = _url(str(current.join(location)))
            except (FeedError, httpx.InvalidURL, UnicodeError, ValueError) as exc:
                raise FeedError(f"the feed redirects to a location that is not an http(s) URL: {exc}") from exc
    raise FeedError("too many redirects")


def _url(text: str) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise FeedError(f"not a valid URL: {exc}") from exc
    if url.scheme not in DEFAULT_PORTS or not url.raw_host:
        raise FeedError(f"{text[:200]} is not an http:// or https:// URL with a host")
    return url


def _hop(
    client: httpx.Client, url: httpx.URL, policy: AddressPolicy, timeout: float, deadline: float
) -> tuple[bytes, str | None]:
    """One request: (body, None), or (b"", the Location to follow)."""
    host = url.raw_host.decode("ascii")
    port = url.port or DEFAULT_PORTS[url.scheme]
    unreachable = f"cannot fetch the feed: {host} could not be reached or did not answer in time"
    failure: str = "no address to try"
    for address in policy.addresses(host, port):
        left = deadline - time.monotonic()
        if left <= 0:
            raise FeedError(unreachable, detail=f"gave up after {MAX_FETCH_SECONDS:g} s")
        request = client.build_request(
            "GET",
            url.copy_with(host=str(address)),  # connect to the address that was checked
            headers={"Host": url.netloc.decode("ascii")},
            extensions={"sni_hostname": host} if url.scheme == "https" else {},  # TLS checks the name
            timeout=min(timeout, left),
        )
        try:
            response = client.send(request, stream=True)
        except httpx.ConnectError as exc:  # try the host's next address
            failure = f"{address}: {exc or type(exc).__name__}"
            continue
        except httpx.TimeoutException as exc:
            raise FeedError(unreachable, detail=f"{address}: timed out after {min(timeout, left):g} s") from exc
        except httpx.HTTPError as exc:
            raise FeedError(unreachable, detail=f"{address}: {exc or type(exc).__name__}") from exc
        try:
            return _answer(response, deadline)
        except httpx.TimeoutException as exc:
            raise FeedError(unreachable, detail=f"{address}: timed out reading the answer") from exc
        except httpx.HTTPError as exc:
            raise FeedError(unreachable, detail=f"{address}: {exc or type(exc).__name__}") from exc
        finally:
            response.close()
    raise FeedError(unreachable, detail=failure)


def _answer(response: httpx.Response, deadline: float) -> tuple[bytes, str | None]:
    if response.status_code in REDIRECTS and "location" in response.headers:
        return b"", response.headers["location"]
    if response.status_code >= 400:
        raise FeedError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
    too_large = f"the response is larger than {MAX_FEED_BYTES // (1024 * 1024)} MB"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FEED_BYTES:
        raise FeedError(too_large)
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_FEED_BYTES:
            raise FeedError(too_large)
        if time.monotonic() > deadline:  # a server trickling bytes just inside each read timeout
            raise FeedError(f"the feed took longer than {MAX_FETCH_SECONDS:g} s to download")
    return bytes(body), None

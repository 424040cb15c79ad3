"""The client's address of a request: the one answer the rate limits and lock-outs use.

The peer address, unless the peer is one of NEWSLETTER_TRUSTED_PROXIES: then the right-most
address in X-Forwarded-For that is not a trusted proxy (each proxy appends the address it saw, so
everything left of that is whatever the client chose to send). With no trusted proxies the header
is ignored, so rotating it evades nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"  # no peer at all (a Unix socket); such clients share one count


def parse_host(text: str) -> Address | None:
    """An address from a peer or an X-Forwarded-For entry: bare, `1.2.3.4:port` or `[v6]:port`."""
    value = text.strip()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _trusted(address: Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def resolve_client(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The client's address, given the peer's, the X-Forwarded-For header values and the trusted proxies."""
    if not peer:
        return UNKNOWN
    peer_address = parse_host(peer)
    if not _trusted(peer_address, proxies):
        return str(peer_address) if peer_address is not None else peer
    client = str(peer_address)
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = parse_host(hop)
        if address is None:
            break  # garbage was written by no proxy of ours: the last proxy's peer is the client
        client = str(address)
        if not _trusted(address, proxies):
            break
    return client


def client_address(request: Request) -> str:
    """The client address of a request, as ClientAddress resolved it."""
    return request.client.host if request.client else UNKNOWN


class ClientAddress:
    """Pure ASGI middleware: puts the resolved client address in ``scope["client"]`` (in place, as
    uvicorn's proxy headers middleware does), so every route, limit and log line sees the same one."""

    def __init__(self, app: ASGIApp, proxies: Sequence[Network] = ()) -> None:
        self._app = app
        self._proxies = tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            values = [v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
            host = resolve_client(peer[0] if peer else None, values, self._proxies)
            scope["client"] = (host, peer[1] if peer and host == peer[0] else 0)
        await self._app(scope, receive, send)

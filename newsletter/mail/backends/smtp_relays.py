"""Several SMTP relays (``smtp_hosts``): the list as configured, and which relays are in rotation.

A relay that refuses a connection, or whose connections drop twice in a row, leaves the rotation
and is probed again (by the next connection that would use it) after 1 s, then 2, 4, ... up to
``MAX_BACKOFF`` seconds; its first successful connection puts it back. When every relay is out,
every relay is tried anyway: a send() never gives up without trying, and the worker's own
back-off on BackendError paces those attempts, exactly as with one relay.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.config import Settings

FIRST_BACKOFF = 1.0  # seconds before a dead relay is probed the first time
MAX_BACKOFF = 60.0  # a relay that stays dead is probed once a minute (a black-holed one costs a connect timeout)
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?")


@dataclass(frozen=True, slots=True)
class Relay:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_relays(value: str, default_port: int) -> tuple[Relay, ...]:
    """``host[:port]`` entries separated by commas (IPv6 as ``[addr]:port``); ValueError names a bad one."""
    relays: list[Relay] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue  # "a, b," is a list of two
        relay = _relay(item, default_port)
        if relay in relays:
            raise ValueError(f"smtp_hosts names {relay} twice")
        relays.append(relay)
    if not relays:
        raise ValueError("smtp_hosts names no relay (leave it unset to use smtp_host and smtp_port)")
    return tuple(relays)


def _relay(item: str, default_port: int) -> Relay:
    wrong = ValueError(f"smtp_hosts entries are host or host:port (IPv6 as [address]:port), separated by "
                       f"commas; got {item!r}")  # fmt: skip
    if item.startswith("["):
        address, closed, rest = item[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise wrong
        host, port = address, rest[1:] if rest else None
        if not _is_ipv6(host):
            raise wrong
    elif item.count(":") > 1:
        if not _is_ipv6(item):
            raise wrong
        host, port = item, None  # a bare IPv6 address takes the default port
    else:
        host, _, port_text = item.partition(":")
        port = port_text if ":" in item else None
        if not _HOSTNAME.fullmatch(host) or (port is not None and not port_text.isalnum()):
            raise wrong  # "smtp://host" is a URL, not a host and a port
    if port is None:
        return Relay(host, default_port)
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"smtp_hosts: {item!r} has no valid port (1-65535)")
    return Relay(host, int(port))


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def configured_relays(settings: Settings) -> tuple[Relay, ...]:
    """``smtp_hosts`` if set (a bare host takes ``smtp_port``), else ``smtp_host:smtp_port``."""
    if settings.smtp_hosts.strip():
        return parse_relays(settings.smtp_hosts, settings.smtp_port)
    return (Relay(settings.smtp_host, settings.smtp_port),)


def sending_through(settings: Settings) -> str:
    """The backend's name for a start-up line, with the relays when it is SMTP."""
    if settings.backend != "smtp":
        return settings.backend
    relays = configured_relays(settings)
    return f"smtp via {', '.join(map(str, relays))}" if len(relays) > 1 else f"smtp via {relays[0]}"


class RelayPool:
    """Which relays are in rotation; shared by the connection threads (hence the lock)."""

    def __init__(self, relays: Sequence[Relay], clock: Callable[[], float] = time.monotonic) -> None:
        self.relays = tuple(relays)
        self._clock = clock
        self._retry_at: list[float | None] = [None] * len(relays)  # None: in rotation
        self._failures = [0] * len(relays)
        self._errors: list[str | None] = [None] * len(relays)
        self._lock = threading.Lock()

    def up(self) -> list[int]:
        """The relays in rotation or due a probe."""
        now = self._clock()
        with self._lock:
            return [i for i, at in enumerate(self._retry_at) if at is None or at <= now]

    def live(self) -> list[int]:
        """The relays to spread connections over now: those up, or all of them when none is."""
        return self.up() or list(range(len(self.relays)))

    def is_live(self, index: int) -> bool:
        at = self._retry_at[index]
        return at is None or at <= self._clock()

    def failed(self, index: int, why: str) -> bool:
        """The relay refused or kept dropping: out of rotation. True if it was in rotation until now."""
        now = self._clock()
        with self._lock:
            self._errors[index] = why
            at = self._retry_at[index]
            if at is not None and at > now:
                return False  # another connection saw the same failure already: one back-off step per probe
            self._failures[index] += 1
            self._retry_at[index] = now + min(FIRST_BACKOFF * 2 ** (self._failures[index] - 1), MAX_BACKOFF)
            return at is None

    def answered(self, index: int) -> bool:
        """A connection opened: the relay is (back) in rotation. True if it was out until now."""
        if self._retry_at[index] is None:
            return False  # the common case, without the lock
        with self._lock:
            was_out = self._retry_at[index] is not None
            self._retry_at[index], self._errors[index] = None, None
            return was_out

    def delivered(self, index: int) -> None:
        """A transaction went through: the back-off starts from the beginning next time. (Not at
        connect: a relay that answers and then drops every transaction keeps backing off.)"""
        if self._failures[index]:
            with self._lock:
                self._failures[index] = 0

    def failures(self) -> str:
        """Every relay with its last error, for the one error raised when none could be reached."""
        return "; ".join(self._errors[i] or f"{relay}: not tried" for i, relay in enumerate(self.relays))

"""Recipient domain groups, the NEWSLETTER_DOMAIN_LIMITS setting and what a throttling reply
looks like: the pure vocabulary of per-domain pacing (pacing.py), light enough for config.py."""

from __future__ import annotations

import re

# One group per provider's mail servers (their MX hosts), so a limit or a back-off applies to all
# of a provider's domains at once. A domain not listed is its own group.
GROUPS: dict[str, tuple[str, ...]] = {
    "gmail.com": ("googlemail.com",),
    "outlook.com": ("hotmail.com", "live.com", "msn.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de",
                    "hotmail.it", "hotmail.es", "live.co.uk", "live.fr", "outlook.fr", "outlook.de"),
    "yahoo.com": ("aol.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
                  "yahoo.it", "yahoo.es", "yahoo.ca", "yahoo.com.au", "aim.com"),
    "icloud.com": ("me.com", "mac.com"),
    "gmx.net": ("gmx.de", "gmx.com", "gmx.at", "gmx.ch"),
    "proton.me": ("protonmail.com", "protonmail.ch", "pm.me"),
    "yandex.ru": ("yandex.com", "ya.ru"),
}
_GROUP_OF = {alias: group for group, aliases in GROUPS.items() for alias in (group, *aliases)}

# No provider publishes a per-second figure: Google's and Yahoo's bulk-sender guidance (2024) asks
# for a steady rate without bursts and for backing off on 421 4.7.x / 4.7.28 deferrals, and
# Microsoft's asks the same with 451 4.7.500-699. So these are conservative but fast choices of
# ours, for the whole fleet, with the adaptive back-off (pacing.py) doing the rest: a provider that
# wants less says so and gets it.
DEFAULT_DOMAIN_LIMITS = "gmail.com=50/s,outlook.com=20/s,yahoo.com=20/s,icloud.com=10/s"

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_LIMIT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*([smh])\s*$")
_THROTTLE_WORDS = re.compile(
    r"\brate\b|rate.limit|try (again )?later|too many|throttl|temporarily (deferred|rate)|unexpected volume"
    r"|server busy"
)
_ENHANCED_47 = re.compile(r"(^|\s)4\.7\.\d{1,3}\b")


def domain_group(address: str) -> str:
    """The group of an address or a domain: the provider's group, else the domain itself."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    return _GROUP_OF.get(domain, domain)


def parse_domain_limits(text: str) -> dict[str, float]:
    """``gmail.com=50/s,yahoo.com=1200/m`` -> messages per second by group; '' -> none."""
    limits: dict[str, float] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        domain, equals, value = entry.partition("=")
        match = _LIMIT.match(value)
        if not equals or not domain.strip() or "@" in domain or match is None:
            raise ValueError(
                f"domain limit {entry!r}: expected domain=N/s (or N/m, N/h), e.g. gmail.com=50/s")
        per_second = float(match.group(1)) / _UNITS[match.group(2)]
        if per_second <= 0:
            raise ValueError(f"domain limit {entry!r}: the rate must be more than 0")
        limits[domain_group(domain)] = per_second
    return limits


def is_throttle(code: int | None, reply: str) -> bool:
    """A provider asking us to slow down: a 421 or a 4.7.x reply that speaks of rate or volume."""
    if code is None or not 400 <= code < 500:
        return False
    text = reply.lower()
    return (code == 421 or _ENHANCED_47.search(text) is not None) and _THROTTLE_WORDS.search(text) is not None

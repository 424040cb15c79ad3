"""How `newsletter serve` runs uvicorn: whose X-Forwarded-For it trusts, and an access log that
never records a reader's token.

A reader's link token (unsubscribe, preferences, confirm, tracking) acts for that reader; an
access log is read by more people, kept longer and shipped further than the database, so the
token path segments are written as `<redacted>`.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from newsletter.config import Settings

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "<redacted>"
# The prefixes followed by a token; the query string of such paths is dropped as well.
_TOKEN_PATHS = (
    re.compile(r"^(/preferences/confirm/)[^/?#]+"),
    re.compile(r"^(/(?:preferences|unsubscribe|confirm)/)[^/?#]+"),
    re.compile(r"^(/t/)[^?#]*"),  # tracking: issue and reader tokens (and the link's index) all go
)


def redact_path(path: str) -> str:
    """The request path with reader tokens replaced, e.g. `/unsubscribe/<redacted>`."""
    for pattern in _TOKEN_PATHS:
        match = pattern.match(path)
        if match is not None:
            rest = path[match.end():].partition("?")[0]  # the page after the token, e.g. /pause
            return match.group(1) + REDACTED + rest
    return path


class RedactTokens(logging.Filter):
    """On uvicorn's access logger: its records carry (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for uvicorn.run/Config beside app, host and port."""
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    log_config["loggers"][ACCESS_LOGGER].setdefault("filters", []).append("redact_tokens")
    proxies = [str(network) for network in settings.trusted_proxy_networks]
    return {
        # None trusted: no proxy headers at all (uvicorn would otherwise trust 127.0.0.1, so a
        # local client could name any address it liked).
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or [],
        "log_config": log_config,
    }

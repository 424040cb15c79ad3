"""Webhook endpoints: add (with its secret, shown once), list, get, remove.

The URL is hostile input: http(s) with a host only, at most 2,000 characters, no credentials,
and not a loopback, private, link-local or reserved address unless NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE
(the address checks of ``content.sources.safe_fetch``; the name is resolved and checked again at
every delivery, since DNS can change).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from newsletter.content.sources.safe_fetch import AddressPolicy, AddressRefused
from newsletter.errors import InvalidInput, NotFound
from newsletter.webhooks.models import EVENTS, WebhookAttempt, WebhookEndpoint, WebhookMessage

MAX_URL = 2000
SECRET_BYTES = 32  # the specification asks for 24 to 64 random bytes
ALLOW_HINT = "set NEWSLETTER_WEBHOOKS_ALLOW_PRIVATE=1 to allow private addresses"


class InvalidWebhookUrl(InvalidInput):
    field = "url"


class InvalidWebhookEvents(InvalidInput):
    field = "events"


class WebhookNotFound(NotFound):
    """No endpoint has that id."""


@dataclass(frozen=True)
class EndpointInfo:
    id: int
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    secret: str  # for the owner (the admin, the create answer); the API's list leaves it out


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def parse_events(events: str | Iterable[str]) -> list[str]:
    """``"subscribed,bounced"`` or a list into the known event names, each once, in EVENTS' order."""
    names = events.split(",") if isinstance(events, str) else list(events)
    wanted = {name.strip() for name in names if isinstance(name, str) and name.strip()}
    unknown = sorted(wanted - set(EVENTS))
    if unknown:
        raise InvalidWebhookEvents(f"unknown event {', '.join(repr(u[:40]) for u in unknown[:5])}; "
                                   f"the events are {', '.join(EVENTS)}")
    if not wanted:
        raise InvalidWebhookEvents(f"name at least one event: {', '.join(EVENTS)}")
    return [name for name in EVENTS if name in wanted]


def check_url(url: str, allow_private: bool) -> str:
    """The URL, trimmed, if it may be an endpoint; InvalidWebhookUrl says why not."""
    text = url.strip()
    if not text:
        raise InvalidWebhookUrl("enter the endpoint's URL (https://...)")
    if len(text) > MAX_URL or any(ord(c) < 33 for c in text):
        raise InvalidWebhookUrl(f"the URL must be one line of at most {MAX_URL} characters without spaces")
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, UnicodeError, ValueError) as exc:
        raise InvalidWebhookUrl(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise InvalidWebhookUrl("the URL must be http:// or https:// with a host")
    if parsed.userinfo:
        raise InvalidWebhookUrl("the URL must not carry a user name or password")
    host = parsed.raw_host.decode("ascii", "replace")
    try:
        AddressPolicy(allow_private=allow_private).check_name(host)
    except AddressRefused as exc:
        raise InvalidWebhookUrl(f"refused: {host} is not a public internet address ({ALLOW_HINT})") from exc
    return text


def _info(endpoint: WebhookEndpoint) -> EndpointInfo:
    return EndpointInfo(endpoint.id, endpoint.url, list(endpoint.events), endpoint.enabled, endpoint.created_at,
                        endpoint.secret)


def create_endpoint(sessions: sessionmaker[Session], url: str, events: str | Iterable[str], *,
                    allow_private: bool) -> EndpointInfo:
    """Add an endpoint; its secret is in the answer (show it once). Bad input changes nothing."""
    checked = check_url(url, allow_private)
    names = parse_events(events)
    with sessions.begin() as session:
        endpoint = WebhookEndpoint(url=checked, events=names, secret=new_secret(), enabled=True)
        session.add(endpoint)
        session.flush()
        return _info(endpoint)


def list_endpoints(sessions: sessionmaker[Session]) -> list[EndpointInfo]:
    with sessions() as session:
        return [_info(e) for e in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def get_endpoint(sessions: sessionmaker[Session], endpoint_id: int) -> EndpointInfo:
    with sessions() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise WebhookNotFound(f"there is no webhook endpoint {endpoint_id}")
        return _info(endpoint)


def set_enabled(sessions: sessionmaker[Session], endpoint_id: int, enabled: bool) -> EndpointInfo:
    """Pause or resume an endpoint. While paused no event is added for it and its waiting
    messages stay waiting; resumed, they go out (a back-off already under way keeps its time)."""
    with sessions.begin() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise WebhookNotFound(f"there is no webhook endpoint {endpoint_id}")
        endpoint.enabled = enabled
        session.flush()
        return _info(endpoint)


def remove_endpoint(sessions: sessionmaker[Session], endpoint_id: int) -> EndpointInfo:
    """Delete the endpoint with its messages and log (nothing more is sent to it)."""
    with sessions.begin() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            raise WebhookNotFound(f"there is no webhook endpoint {endpoint_id}")
        info = _info(endpoint)
        # Explicitly, children first: the same on a database whose foreign keys do not cascade.
        messages = select(WebhookMessage.id).where(WebhookMessage.endpoint_id == endpoint_id)
        session.execute(delete(WebhookAttempt).where(WebhookAttempt.message_id.in_(messages)))
        session.execute(delete(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id))
        session.delete(endpoint)
        return info

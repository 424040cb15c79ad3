"""The editor's list settings and design, stored in one row over the Settings defaults.

A NULL column means "use the default": the NEWSLETTER_ setting where there is one, else the
built-in default here. ``load_profile`` resolves every field; ``save_profile`` validates and
stores changes; ``effective_settings`` applies the list name, From address and sending limits
to a copy of the Settings, so renderers and senders need not know about the profile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import InvalidInput
from newsletter.readers.addresses import InvalidAddress, clean_name, normalise_email
from newsletter.config import Settings
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueStatus, ListProfileRecord

PROFILE_ID = 1
DEFAULT_ACCENT = "#0b57d0"
# Stacks without quotes, so they are safe both in style attributes and inside <mj-style>.
FONT_STACKS: dict[str, str] = {
    "System sans-serif": "-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, Helvetica, Arial, sans-serif",
    "Classic serif": "Georgia, Times New Roman, Times, serif",
    "Humanist sans-serif": "Verdana, Geneva, Tahoma, sans-serif",
    "Book serif": "Palatino Linotype, Book Antiqua, Palatino, Georgia, serif",
    "Monospace": "Menlo, Consolas, Liberation Mono, Courier New, monospace",
}
DEFAULT_FONT = FONT_STACKS["System sans-serif"]
DEFAULT_WELCOME_SUBJECT = "Welcome to {list_name}"
DEFAULT_WELCOME_BODY = (
    "Thank you for subscribing to **{list_name}**.\n\n"
    "A new issue arrives every week. You can read past issues in the archive, and every email "
    "has a link to unsubscribe at the bottom."
)
MAX_LENGTHS = {
    "list_name": 100,
    "from_address": 320,
    "logo_url": 2000,
    "footer_text": 1000,
    "welcome_subject": 200,
    "welcome_body_markdown": 20_000,
    "custom_template": 200_000,
    "postal_address": 500,
}
MAX_RATE_PER_SECOND = 10_000.0
MAX_RATE_PER_HOUR = 100_000_000
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# Settings that show in a rendered issue: changing one re-renders the issues not yet sent.
RENDERED_FIELDS = frozenset(
    {"list_name", "from_address", "logo_url", "accent_color", "font_family", "footer_text", "custom_template",
     "postal_address"}
)


@dataclass(frozen=True)
class ListProfile:
    """Every list setting, resolved: stored values over the Settings and built-in defaults."""

    list_name: str
    from_address: str
    rate_per_second: float
    rate_per_hour: int
    logo_url: str
    accent_color: str
    font_family: str
    footer_text: str
    custom_template: str | None
    tracking_enabled: bool
    welcome_enabled: bool
    welcome_subject: str
    welcome_body_markdown: str
    postal_address: str = ""  # "" until the editor sets it: preflight warns, the preview prompts


FIELDS = tuple(f.name for f in fields(ListProfile))


class InvalidProfile(InvalidInput):
    """A setting that cannot be stored; ``field`` names the form field, ``errors`` has every one found."""

    def __init__(self, field: str, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(f"{field.replace('_', ' ')}: {message}")
        self.field = field
        self.message = message
        self.errors = errors or {field: message}


def _row(session: Session) -> ListProfileRecord | None:
    return session.get(ListProfileRecord, PROFILE_ID)


def resolve(row: ListProfileRecord | None, settings: Settings) -> ListProfile:
    def pick(name: str, default: Any) -> Any:
        value = getattr(row, name, None) if row is not None else None
        return default if value is None else value

    list_name = str(pick("list_name", settings.list_name))
    return ListProfile(
        list_name=list_name,
        from_address=str(pick("from_address", settings.from_address)),
        rate_per_second=float(pick("rate_per_second", settings.rate_per_second)),
        rate_per_hour=int(pick("rate_per_hour", settings.rate_per_hour)),
        logo_url=str(pick("logo_url", "")),
        accent_color=str(pick("accent_color", DEFAULT_ACCENT)),
        font_family=str(pick("font_family", DEFAULT_FONT)),
        footer_text=str(pick("footer_text", "")),
        custom_template=row.custom_template if row is not None and row.custom_template else None,
        tracking_enabled=bool(pick("tracking_enabled", False)),
        welcome_enabled=bool(pick("welcome_enabled", False)),
        welcome_subject=str(pick("welcome_subject", DEFAULT_WELCOME_SUBJECT.format(list_name=list_name))),
        welcome_body_markdown=str(pick("welcome_body_markdown", DEFAULT_WELCOME_BODY.format(list_name=list_name))),
        postal_address=str(pick("postal_address", "")),
    )


def load_profile(sessions: sessionmaker[Session], settings: Settings) -> ListProfile:
    """One primary-key read; cheap enough to do per page or per render."""
    with sessions() as session:
        return resolve(_row(session), settings)


def load_list_name(sessions: sessionmaker[Session], settings: Settings) -> str:
    """Only the list name (every page's header), one column of one row."""
    with sessions() as session:
        name = session.scalar(select(ListProfileRecord.list_name).where(ListProfileRecord.id == PROFILE_ID))
    return name or settings.list_name


def effective_settings(settings: Settings, profile: ListProfile) -> Settings:
    """The Settings with the editor's list name, From address and sending limits applied."""
    return settings.model_copy(update={
        "list_name": profile.list_name,
        "from_address": profile.from_address,
        "rate_per_second": profile.rate_per_second,
        "rate_per_hour": profile.rate_per_hour,
    })


# -- validation


def _one_line(value: str, limit: int) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise ValueError("must be one line")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters (got {len(text)})")
    return text


def _text(value: str, limit: int) -> str:
    text = value.replace("\r\n", "\n").replace("\x00", "").strip()
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters (got {len(text)})")
    return text


def _from_address(value: str) -> str:
    text = _one_line(value, MAX_LENGTHS["from_address"])
    name, addr = parseaddr(text)
    if not addr or "@" not in addr:
        raise ValueError("must be an address such as 'The Weekly Briefing <briefing@example.org>'")
    try:
        address = normalise_email(addr)
    except InvalidAddress as exc:
        raise ValueError(str(exc)) from exc
    return formataddr((clean_name(name), address)) if name.strip() else address


def _logo_url(value: str) -> str:
    text = _one_line(value, MAX_LENGTHS["logo_url"])
    if not text:
        return ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
        raise ValueError("must be an absolute http:// or https:// address of an image")
    return text


def _accent(value: str) -> str:
    text = value.strip()
    if not _HEX_COLOUR.fullmatch(text):
        raise ValueError("must be a colour written #rrggbb, e.g. #0b57d0")
    return text.lower()


def _font(value: str) -> str:
    text = value.strip()
    if text in FONT_STACKS:  # a label from the form
        return FONT_STACKS[text]
    if text not in FONT_STACKS.values():
        raise ValueError(f"must be one of: {', '.join(FONT_STACKS)}")
    return text


def _rate_per_second(value: object) -> float:
    try:
        rate = float(str(value).strip() or 0)
    except ValueError:
        raise ValueError("must be a number (0 = no limit)") from None
    if not 0 <= rate <= MAX_RATE_PER_SECOND:
        raise ValueError(f"must be between 0 (no limit) and {MAX_RATE_PER_SECOND:g}")
    return rate


def _rate_per_hour(value: object) -> int:
    text = str(value).strip() or "0"
    if not text.isdigit():
        raise ValueError("must be a whole number (0 = no limit)")
    rate = int(text)
    if rate > MAX_RATE_PER_HOUR:
        raise ValueError(f"must be at most {MAX_RATE_PER_HOUR}")
    return rate


def _custom_template(value: str) -> str:
    text = _text(value, MAX_LENGTHS["custom_template"])
    if not text:
        raise ValueError("is empty; reset to the shipped template instead")
    return text


def _required_line(limit: int) -> Any:
    def check(value: str) -> str:
        text = _one_line(value, limit)
        if not text:
            raise ValueError("cannot be empty")
        return text
    return check


_VALIDATORS: dict[str, Any] = {
    "list_name": _required_line(MAX_LENGTHS["list_name"]),
    "from_address": _from_address,
    "rate_per_second": _rate_per_second,
    "rate_per_hour": _rate_per_hour,
    "logo_url": _logo_url,
    "accent_color": _accent,
    "font_family": _font,
    "footer_text": lambda v: _text(v, MAX_LENGTHS["footer_text"]),
    "custom_template": _custom_template,
    "tracking_enabled": bool,
    "welcome_enabled": bool,
    "welcome_subject": _required_line(MAX_LENGTHS["welcome_subject"]),
    "welcome_body_markdown": lambda v: _text(v, MAX_LENGTHS["welcome_body_markdown"]),
    "postal_address": lambda v: _text(v, MAX_LENGTHS["postal_address"]),
}


def validate_changes(changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean values, {field: message}); ``None`` stays ``None`` (back to the default)."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, value in changes.items():
        if name not in _VALIDATORS:
            raise TypeError(f"not a list setting: {name}")
        if value is None:
            clean[name] = None
            continue
        try:
            clean[name] = _VALIDATORS[name](value)
        except ValueError as exc:
            errors[name] = str(exc)
    return clean, errors


def save_profile(sessions: sessionmaker[Session], settings: Settings, **changes: Any) -> ListProfile:
    """Validate and store the given fields (``None`` = back to the default); nothing is stored if
    any is invalid (InvalidProfile names the first, ``errors`` all of them)."""
    clean, errors = validate_changes(changes)
    if errors:
        field = next(iter(errors))
        raise InvalidProfile(field, errors[field], errors)
    with sessions.begin() as session:
        row = _row(session)
        if row is None:
            row = ListProfileRecord(id=PROFILE_ID)
            session.add(row)
        for name, value in clean.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        if RENDERED_FIELDS & clean.keys():
            _forget_unsent_renders(session)
        session.flush()
        return resolve(row, settings)


def _forget_unsent_renders(session: Session) -> None:
    """Drafts and scheduled issues are rendered again (lazily, by the publisher) with the new
    settings; issues being sent or sent keep the HTML their readers got."""
    session.execute(
        update(Issue)
        .where(Issue.status.in_([IssueStatus.DRAFT, IssueStatus.SCHEDULED]))
        .values(html=None, text=None, web_html=None, rendered_at=None)
    )


# -- the custom template's draft: uploaded and valid, previewed before it is used


def load_template_draft(sessions: sessionmaker[Session]) -> str | None:
    with sessions() as session:
        row = _row(session)
        return row.template_draft if row is not None else None


def store_template_draft(sessions: sessionmaker[Session], source: str | None) -> None:
    with sessions.begin() as session:
        row = _row(session)
        if row is None:
            row = ListProfileRecord(id=PROFILE_ID)
            session.add(row)
        row.template_draft = source
        row.updated_at = utcnow()

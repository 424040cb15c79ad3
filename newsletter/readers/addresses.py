"""Email addresses and display names as readers type them, made safe to store and to mail."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from newsletter.errors import InvalidInput

MAX_NAME = 200


class InvalidAddress(InvalidInput):
    """An email address that cannot be mailed; the message says why, for the form or the CLI."""

    field = "email"


def normalise_email(raw: str) -> str:
    """Validate syntax (no DNS lookups) and return the canonical lower-case form."""
    if any(ch in raw for ch in "\r\n\x00"):
        raise InvalidAddress("an email address cannot contain line breaks")
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from exc


def clean_name(raw: str | None) -> str:
    """Names end up in headers: keep printable characters only, on one line."""
    text = "".join(ch if ch.isprintable() else " " for ch in (raw or ""))
    return " ".join(text.split())[:MAX_NAME]

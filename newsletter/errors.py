"""One error tree for the whole package.

Every error the domain raises on purpose derives from `NewsletterError` through exactly one
kind below. Each entry point maps the kinds once: the CLI (``newsletter.cli.main.main``) prints
one line and exits with the kind's ``exit_code``; the JSON API (``newsletter.web.api.routes``)
answers the kind's ``http_status``; the web pages (``newsletter.web.errors``) show an error page.
Anything else that escapes is a bug: logged with its traceback and reported as an internal
error (CLI exit `INTERNAL_ERROR_EXIT`, API 500), never as a user error.

======================  =========  ==========================================================
kind                    CLI exit   API status
======================  =========  ==========================================================
`NotFound`              1          404
`Conflict`              1          409
`InvalidInput`          1          422 (with ``fields``)
`Unavailable`           1          503, or 502 where the mail server refused (``http_status``)
`NotAllowed`            1          403 (401 for a bad API token)
anything else (a bug)   70         500
======================  =========  ==========================================================

The README fixes exit 1 for every error a user can act on, so the kinds share it; an internal
error has its own code (70, ``EX_SOFTWARE`` in sysexits.h) so scripts can tell a bug apart.
"""

from __future__ import annotations

# sysexits.h EX_SOFTWARE: an internal software error (a bug), not something the user did.
INTERNAL_ERROR_EXIT = 70


class NewsletterError(Exception):
    """The base of every domain error. Raise a kind's subclass, never this class itself."""

    exit_code: int = 1
    http_status: int = 500


class NotFound(NewsletterError):
    """The thing named (an issue, a reader, a source...) does not exist."""

    http_status = 404


class Conflict(NewsletterError):
    """The request is well-formed but the current state does not allow it (sent issue, duplicate, suppressed)."""

    http_status = 409


class InvalidInput(NewsletterError):
    """The input itself is wrong (an address, a date, a file, a setting); the message says what.

    A subclass may name the field it is about with ``field`` (the API lists it under ``fields``).
    """

    http_status = 422
    field: str | None = None


class Unavailable(NewsletterError):
    """Something we depend on (the database, the mail server, a feed, a mailbox) failed; try again later."""

    http_status = 503


class NotAllowed(NewsletterError):
    """The caller may not do this: not logged in, no CSRF token, not an owner, a refused login."""

    http_status = 403


KINDS: tuple[type[NewsletterError], ...] = (NotFound, Conflict, InvalidInput, Unavailable, NotAllowed)


def kind_of(exc: BaseException) -> type[NewsletterError] | None:
    """The kind an exception belongs to, or None when it is not a domain error (a bug)."""
    return next((kind for kind in KINDS if isinstance(exc, kind)), None)

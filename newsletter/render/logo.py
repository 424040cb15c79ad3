"""Whether the masthead shows the list's logo: one rule for every render, preflight and the design page.

The logo is shown only when it is one of our own /media/ images that the media store still has;
otherwise the masthead shows the list's name as text, never a broken image. Checking that is a
file lookup, so every render (previews, test sends, the archive, the send) can afford it and
stays offline. An address on someone else's server cannot be checked without fetching it, and a
render never fetches: the design page copies such a logo into the store once, when the design is
saved (``adopt_logo``, the address-checked fetch that ingest uses for article images), and from
then on the logo is ours. One that could not be copied is not shown, and preflight says why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from urllib.parse import urlsplit

from newsletter.errors import NewsletterError
from newsletter.media.fetch import Fetch
from newsletter.media.store import Media


class LogoState(enum.Enum):
    NONE = "none"  # no logo set: the name as text, nothing to say
    SHOWN = "shown"  # ours, and stored
    MISSING = "missing"  # ours, but the store no longer has it
    ELSEWHERE = "elsewhere"  # someone else's address, not copied into the store


# What the design page and preflight say about a logo that is not shown, in the writer's words.
PROBLEMS = {
    LogoState.MISSING: "The logo's image is missing from the media store, so emails show the newsletter's name "
                       "instead. Upload the logo again.",
    LogoState.ELSEWHERE: "The logo is on another site and has not been copied here, so emails show the "
                         "newsletter's name instead. Save the design to copy it from its address, or upload the logo.",
}


def logo_state(logo_url: str, media: Media) -> LogoState:
    url = logo_url.strip()
    if not url:
        return LogoState.NONE
    if not media.is_ours(url):
        return LogoState.ELSEWHERE
    return LogoState.MISSING if media.missing(url) else LogoState.SHOWN


def shown_logo(logo_url: str, media: Media) -> str:
    """The logo URL the masthead shows, or "" for the list's name as text."""
    return logo_url.strip() if logo_state(logo_url, media) is LogoState.SHOWN else ""


def logo_problem(logo_url: str, media: Media) -> str:
    """Why the logo will not show, in the writer's words; "" when it shows (or none is set)."""
    return PROBLEMS.get(logo_state(logo_url, media), "")


@dataclass(frozen=True)
class Adopted:
    url: str  # the logo URL to store: our copy, or the address as given when it could not be copied
    copied: bool
    error: str = ""  # why it could not be copied


def adopt_logo(logo_url: str, media: Media, fetch: Fetch) -> Adopted:
    """Copy a logo given as someone else's address into the media store (fetched once, checked and
    cleaned as an upload is); ours, or none, is returned as it is."""
    url = logo_url.strip()
    if logo_state(url, media) is not LogoState.ELSEWHERE:
        return Adopted(url, copied=False)
    try:
        item = media.add(fetch(url), name_hint=urlsplit(url).path.rsplit("/", 1)[-1])
    except NewsletterError as exc:  # unreachable, refused address, not an image: the writer is told
        return Adopted(url, copied=False, error=str(exc))
    return Adopted(item.url, copied=True)

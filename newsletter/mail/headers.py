"""Header values that are safe by construction: sanitised, RFC 2047-encoded where needed, folded.

Written by hand rather than with ``email.policy`` folding because the latter, in Python 3.11,
can drop a space between encoded words of a long non-ASCII subject, and because the hot path
must not build header objects per reader. Every function returns ASCII text without CR/LF
except the explicit CRLF + space folds it inserts itself.
"""

from __future__ import annotations

import re
from email.charset import Charset
from email.utils import formataddr
from itertools import chain, repeat

from newsletter.errors import InvalidInput
from newsletter.render.markers import clean_text

MAX_DISPLAY_NAME = 200  # characters: the subscriber.name column width
MAX_DISPLAY_BYTES = 600  # UTF-8 octets: one encoded word stays well below the 998-octet line limit
MAX_ADDRESS = 254  # RFC 5321 path limit
FOLD = "\r\n "

_UTF8 = Charset("utf-8")
# Anything that could end the <...>, add a recipient or a header: refused in addresses.
_ADDRESS_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f<>,;:\"\\()\[\]\u2028\u2029\ud800-\udfff]")
HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # RFC 5322 ftext
_LINE = 76  # fold target: a little under the recommended 78


class UnmailableAddress(InvalidInput):
    """An address no message can carry (it would need SMTPUTF8, or it could smuggle a header)."""


def address(email: str) -> str:
    """The address as it may stand in <...>; anything odd is refused (`UnmailableAddress`), never
    silently altered."""
    addr = email.strip()
    local, at, domain = addr.rpartition("@")
    if local and not local.isascii():
        raise UnmailableAddress(f"a non-ASCII local part needs SMTPUTF8, which is not supported: {email!r}")
    if not domain.isascii():
        try:  # an internationalised domain has an ASCII (IDNA) spelling
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UnmailableAddress(f"not a usable e-mail domain: {email!r}") from exc
        addr = f"{local}@{domain}"
    if not (local and at and domain) or "@" in local or _ADDRESS_UNSAFE.search(addr) or len(addr) > MAX_ADDRESS:
        raise UnmailableAddress(f"not a usable e-mail address: {email!r}")
    return addr


def msg_id_part(value: str) -> str:
    """A message-id or domain with everything that could break out of <...> removed."""
    return _ADDRESS_UNSAFE.sub("", value).encode("ascii", "ignore").decode("ascii")


def display_name(name: str) -> str:
    """The name as it goes into To: and the greeting: sanitised and size-capped."""
    capped = clean_text(name)[:MAX_DISPLAY_NAME]
    raw = capped.encode("utf-8")
    if len(raw) > MAX_DISPLAY_BYTES:
        capped = raw[:MAX_DISPLAY_BYTES].decode("utf-8", "ignore")
    return capped.strip()


def mailbox(display: str, addr: str) -> str:
    """``Name <addr>``: plain or quoted if ASCII, else one RFC 2047 word (as formataddr does).

    One encoded word, not several: Python's own address parser (3.11) keeps the whitespace
    between adjacent encoded words of a display name, so a split name would not round-trip.
    """
    if not display:
        return addr
    if display.isascii() and "=?" not in display:  # "=?" would be decoded as an encoded word
        value = formataddr((display, addr))
    else:
        value = f"{_UTF8.header_encode(display)} <{addr}>"
    return value if len(value) <= _LINE - 10 else value.replace(f" <{addr}>", f"{FOLD}<{addr}>")


def unstructured(name: str, text: str) -> str:
    """A full ``Name: text`` header (no trailing CRLF) for already sanitised single-line text."""
    if not text:
        return f"{name}: "
    words = text.split(" ")
    if text.isascii() and "=?" not in text and max(map(len, words)) < 900:
        lines = [f"{name}: {words[0]}"]
        for word in words[1:]:  # fold at spaces: unfolding restores exactly one space
            if len(lines[-1]) + 1 + len(word) > _LINE:
                lines.append(" " + word)
            else:
                lines[-1] += " " + word
        return "\r\n".join(lines)
    first = _LINE - len(name) - 2
    encoded = _UTF8.header_encode_lines(text, chain([first], repeat(_LINE - 1)))
    return f"{name}: " + FOLD.join(line for line in encoded if line is not None)

"""Addresses that carry a signed id in their local part: `<prefix>+<token>@domain`.

- VERP (`bounces+<delivery>`): the envelope sender of each delivery, so a bounce names the
  delivery it is about, whatever the remote server put (or failed to put) in its report.
- Confirm by reply (`confirm+<subscriber>`): the Reply-To of a confirmation email.

The token is the id and a truncated HMAC of it, spelled in lower-case hex and base32 because
some relays fold the case of local parts; a forged or damaged token names nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from newsletter.mail.tokens import InvalidToken

BOUNCES = "bounces"
CONFIRM = "confirm"
_MAC_BYTES = 10  # 80 bits: forging one would take about 2^80 tries against the inbound server


class SignedAddresses:
    def __init__(self, secret_key: str, domain: str, prefix: str) -> None:
        # One key per prefix: a bounce token can never be replayed as a confirmation.
        self._key = hashlib.sha256(f"newsletter-{prefix}\x00{secret_key}".encode()).digest()
        self._domain = domain
        self.prefix = prefix

    def _mac(self, value: int) -> str:
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.b32encode(digest).decode().lower()

    def address(self, value: int) -> str:
        # About 40 characters: well inside the 64 octets RFC 5321 allows a local part.
        return f"{self.prefix}+{value:x}-{self._mac(value)}@{self._domain}"

    def read(self, local_part: str) -> int:
        """The id a `<prefix>+<token>` local part names; InvalidToken if forged or damaged."""
        base, plus, token = local_part.lower().partition("+")
        if base != self.prefix or not plus:
            raise InvalidToken(f"not a {self.prefix}+ address")
        hex_id, dash, mac = token.partition("-")
        try:
            value = int(hex_id, 16)
        except ValueError as exc:
            raise InvalidToken(f"{self.prefix}+ token has no id") from exc
        if not dash or not hmac.compare_digest(mac, self._mac(value)):
            raise InvalidToken(f"{self.prefix}+ token does not verify")
        return value

"""Signed tokens for the links in emails: confirm (expires) and unsubscribe (never expires)."""

from __future__ import annotations

import hmac

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from newsletter.errors import InvalidInput

CONFIRM_MAX_AGE = 7 * 24 * 3600
UNDO_MAX_AGE = 30 * 24 * 3600  # an old mailbox may be read less often


class InvalidToken(InvalidInput):
    """A link's token is forged, damaged or expired."""


class Tokens:
    def __init__(self, secret_key: str) -> None:
        self._confirm = URLSafeTimedSerializer(secret_key, salt="confirm")
        # Unsubscribe links must keep working in old emails, so they never expire.
        self._unsubscribe = URLSafeSerializer(secret_key, salt="unsubscribe")
        # The send path signs one per reader: dumps() builds a signer and derives its key on every
        # call (43 us); one signer made here signs the same payload in 6 us (docs/benchmarks.md),
        # and its HMAC keyed once and copied per token (as the signer would compute it) in 2 us.
        signer = self._unsubscribe.make_signer()
        self._unsubscribe_sep = signer.sep
        self._unsubscribe_mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        # Sent to a reader's old address when it is changed: undoes the change (readers/preferences.py).
        self._undo = URLSafeTimedSerializer(secret_key, salt="undo-email-change")

    def confirm_token(self, subscriber_id: int, email: str) -> str:
        return self._confirm.dumps([subscriber_id, email])

    def read_confirm(self, token: str) -> tuple[int, str]:
        try:
            subscriber_id, email = self._confirm.loads(token, max_age=CONFIRM_MAX_AGE)
        except SignatureExpired as exc:
            raise InvalidToken("this confirmation link has expired; please subscribe again") from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken("this confirmation link is not valid") from exc
        return int(subscriber_id), str(email)

    def unsubscribe_token(self, subscriber_id: int) -> str:
        if not 0 <= subscriber_id < 10**10:
            return self._unsubscribe.dumps(subscriber_id)
        # dumps' payload for an id of up to ten digits: the digits, base64url. Never compressed:
        # zlib's output for any non-empty input is 9 bytes or more, and dumps compresses only
        # when that saves two bytes (tests/mail/test_tokens.py checks both ways agree).
        payload = base64_encode(str(int(subscriber_id)))
        mac = self._unsubscribe_mac.copy()
        mac.update(payload)
        return (payload + self._unsubscribe_sep + base64_encode(mac.digest())).decode("ascii")

    def read_unsubscribe(self, token: str) -> int:
        try:
            return int(self._unsubscribe.loads(token))
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken("this unsubscribe link is not valid") from exc

    def undo_token(self, subscriber_id: int, old_email: str, new_email: str) -> str:
        return self._undo.dumps([subscriber_id, old_email, new_email])

    def read_undo(self, token: str) -> tuple[int, str, str]:
        try:
            subscriber_id, old_email, new_email = self._undo.loads(token, max_age=UNDO_MAX_AGE)
        except SignatureExpired as exc:
            raise InvalidToken("this link has expired; write to us and we will move your subscription back") from exc
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidToken("this link is not valid") from exc
        return int(subscriber_id), str(old_email), str(new_email)

"""The suppression list: addresses that are never mailed again, even after their data is erased.

Only a keyed hash of the normalised address is kept (HMAC-SHA256 with a key derived from the
secret key), so an erased reader leaves no address behind, yet cannot be imported back.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from newsletter.db.base import utcnow
from newsletter.readers.models import Suppression


class SuppressionList:
    def __init__(self, secret_key: str) -> None:
        # A key of its own, so these hashes reveal nothing about the link-signing key.
        self._key = hmac.new(secret_key.encode(), b"newsletter suppression list", hashlib.sha256).digest()

    def hash(self, email: str) -> str:
        return hmac.new(self._key, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    def add(self, session: Session, emails: Iterable[str], reason: str) -> None:
        rows = [{"address_hash": self.hash(e), "reason": reason, "created_at": utcnow()} for e in emails]
        if not rows:
            return
        insert_ = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert_(Suppression).values(rows).on_conflict_do_nothing(index_elements=["address_hash"]))

    def suppressed(self, session: Session, emails: Iterable[str]) -> set[str]:
        """The given addresses that are on the list."""
        by_hash = {self.hash(e): e for e in emails}
        if not by_hash:
            return set()
        found = session.scalars(select(Suppression.address_hash).where(Suppression.address_hash.in_(by_hash)))
        return {by_hash[h] for h in found}

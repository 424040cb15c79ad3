"""CSV import of subscribers: every row is added, skipped as existing, or rejected with a reason."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import ColumnElement, String, any_, bindparam, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, sessionmaker

from newsletter.models import Subscriber, SubscriberEvent, SubscriberEventKind, SubscriberStatus, UTCDateTime, utcnow
from newsletter.suppression import SuppressionList
from newsletter.addresses import InvalidAddress, clean_name, normalise_email

EMAIL_COLUMNS = ("email", "email address", "e-mail", "mail")
NAME_COLUMNS = ("name", "full name")
CHUNK = 1000


class ImportFileError(ValueError):
    """The file as a whole cannot be read as a subscriber CSV."""


@dataclass
class ImportReport:
    added: int = 0
    existing: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    pending: list[int] = field(default_factory=list)  # new readers awaiting confirmation


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _email_in(session: Session, emails: list[str]) -> ColumnElement[bool]:
    """``email IN (...)``; on PostgreSQL ``= ANY(array)``: one parameter, not a thousand to plan."""
    if session.get_bind().dialect.name == "postgresql":
        return Subscriber.email == any_(bindparam("emails", emails, type_=ARRAY(String)))
    return Subscriber.email.in_(emails)


def read_rows(path: Path) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]]]:
    """Parse the file: (line, email, name) rows that validate, and (line, reason) rejections."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}") from exc
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ImportFileError(f"{path} is empty")
            email_at = _column(header, EMAIL_COLUMNS)
            name_at = _column(header, NAME_COLUMNS)
            rows: list[tuple[int, str, str]] = []
            rejected: list[tuple[int, str]] = []
            if email_at is None:
                # No header row: the first column is the address, the second the name.
                email_at, name_at = 0, 1
                handle.seek(0)
                reader = csv.reader(handle)
            for record in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in record):
                    continue
                raw = record[email_at] if email_at < len(record) else ""
                name = record[name_at] if name_at is not None and name_at < len(record) else ""
                try:
                    rows.append((line, normalise_email(raw), clean_name(name)))
                except InvalidAddress as exc:
                    rejected.append((line, f"{raw!r}: {exc}"))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ImportFileError(f"{path} is not a UTF-8 CSV file: {exc}") from exc
    return rows, rejected


def import_csv(
    sessions: sessionmaker[Session],
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    confirmed: bool = False,
    suppression: SuppressionList | None = None,
) -> ImportReport:
    """Import readers; existing ones are kept as they are.

    ``confirmed``: the list opted in elsewhere, so readers are active at once. Otherwise they are
    pending, and ``report.pending`` lists them for confirmation emails (double opt-in).
    """
    rows, rejected = read_rows(path)
    report = ImportReport(rejected=rejected)
    state = "active at once (opted in elsewhere)" if confirmed else "awaiting confirmation"
    detail = f"from {path.name[:200]}; {state}"
    seen: set[str] = set()
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        with sessions.begin() as session:
            emails = [email for _, email, _ in chunk]
            known = set(session.scalars(select(Subscriber.email).where(Subscriber.email.in_(emails))))
            # Addresses that bounced, complained or were erased are never imported back.
            blocked = suppression.suppressed(session, emails) if suppression is not None else set()
            now = utcnow()
            new = []
            for line, email, name in chunk:
                if email in blocked and email not in known:
                    report.rejected.append((line, f"{email!r}: on the suppression list (bounced, complained or erased)"))
                    continue
                if email in known or email in seen:
                    report.existing += 1
                    continue
                seen.add(email)
                new.append(
                    {
                        "email": email,
                        "name": name,
                        "status": SubscriberStatus.ACTIVE if confirmed else SubscriberStatus.PENDING,
                        "source": "import",
                        "attributes": {},
                        "created_at": now,
                        "confirmed_at": now if confirmed else None,
                        "confirmations_sent": 0,
                    }
                )
            if new:
                session.execute(insert(Subscriber), new)
                # Each new reader's "imported" event in one INSERT ... SELECT, which also returns
                # the new readers' ids for the confirmation emails.
                new_emails = [str(row["email"]) for row in new]
                new_ids = session.scalars(
                    insert(SubscriberEvent)
                    .from_select(
                        ["subscriber_id", "kind", "detail", "created_at"],
                        select(
                            Subscriber.id,
                            literal(SubscriberEventKind.IMPORTED.value),
                            literal(detail),
                            literal(now, UTCDateTime()),
                        ).where(_email_in(session, new_emails)),
                    )
                    .returning(SubscriberEvent.subscriber_id)
                ).all()
                if not confirmed:
                    report.pending += new_ids
            report.added += len(new)
        if progress:
            progress(min(start + CHUNK, len(rows)), len(rows))
    return report

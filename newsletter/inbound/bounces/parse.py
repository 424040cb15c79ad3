"""`classify_message`: what came back to the bounce address, and whom it is about.

Order: ARF feedback report (complaint) -> RFC 3464 DSN -> non-standard bounce formats
(flufl.bounce, then the wording of the message) -> RFC 3834 auto-reply -> list command ->
other. Any failure to read the message gives kind "other"; nothing here raises.
"""

from __future__ import annotations

import email
import logging
import re
from dataclasses import replace
from email.message import Message
from email.policy import compat32

from newsletter.inbound.bounces.classify import class_of, find_reply_code, find_status, reason_of
from newsletter.inbound.bounces.dsn import (
    ADDRESS_RE,
    Parts,
    address_in,
    collect,
    dsn_recipients,
    fields_of,
    original_recipient,
)
from newsletter.inbound.bounces.model import BouncedRecipient, InboundReport
from newsletter.inbound.bounces.proof import proofs_in

log = logging.getLogger(__name__)

BOUNCE_SENDER_RE = re.compile(r"mailer-daemon|post_?master|mail delivery|mdaemon|mail administrator", re.I)
BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery (status|failure|notification|problem|has failed|failed)|returned mail|failure notice"
    r"|mail delivery failed|non.?deliver|could not be delivered|not delivered|delivery report|bounce"
    r"|mail system error|error sending|rejected|permanent error|failed delivery|warning: could not",
    re.I,
)
DELAY_SUBJECT_RE = re.compile(r"delay|still being retried|will retry|not yet been delivered", re.I)
VACATION_SUBJECT_RE = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|vacation|abwesenheit|away from"
    r"|absence|r[ée]ponse automatique)",
    re.I,
)
COMMAND_RE = re.compile(r"^\s*(unsubscribe|subscribe|help|stop|remove)\s*$", re.I)
# Addresses a bounce names that are never the failed recipient.
NOT_RECIPIENT_RE = re.compile(r"^(mailer-daemon|postmaster|root|abuse|noreply|no-reply|bounce[s]?)[@+]", re.I)


TRANSCRIPT_RE = re.compile(
    r"^[245]\d\d[ -]<?([^\s<>@]+@[^\s<>]+?)>?\.\.\.\s|^\s*RCPT TO:\s*<?([^\s<>@]+@[^\s<>]+?)>?\s*$",
    re.MULTILINE | re.IGNORECASE,
)


def classify_message(raw: bytes, verp_recipient: str | None = None) -> InboundReport:
    """Read one inbound message (bytes as received) and say what it is.

    `verp_recipient` is the subscriber decoded from a VERP envelope address, if any: it is used
    for a bounce whose body names nobody.
    """
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
        parts = collect(msg)
        proofs = proofs_in(parts)  # before _classify, which may add to the parts
        report = _classify(msg, parts, (verp_recipient or "").strip().lower() or None)
        return replace(report, proofs=proofs) if proofs else report
    except Exception:  # noqa: BLE001 - broken input is "other", never an exception
        log.debug("unreadable inbound message", exc_info=True)
        return InboundReport(kind="other")


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:  # noqa: BLE001
        return str(value)


def _classify(msg: Message, parts: Parts, verp: str | None) -> InboundReport:
    ctype = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "") if ctype == "multipart/report" else ""
    if parts.feedback_blocks or str(report_type).lower() == "feedback-report":
        return _complaint(parts, verp)
    if parts.status_blocks or _looks_like_bounce(msg, parts):
        report = _bounce(msg, parts, verp)
        if report is not None:
            return report
    if _header(msg, "X-Apple-Unsubscribe").strip().lower() == "true":
        # Apple Mail's one-click unsubscribe: Sisimai (and our labels) count it as an opt-out report.
        sender = address_in(_header(msg, "From")) or (verp or "")
        opt_out = [BouncedRecipient(sender, "hard", "", "complaint: opt-out", "complaint")] if sender else []
        return InboundReport(kind="complaint", recipients=opt_out, feedback_type="opt-out")
    if _is_auto_reply(msg):
        return InboundReport(kind="auto-reply")
    subject = _header(msg, "Subject")
    command = COMMAND_RE.match(subject)
    if command:
        sender = address_in(_header(msg, "From"))
        reason = f"command: {command.group(1).lower()}"
        asked = [BouncedRecipient(sender, "hard", "", reason, "command")] if sender else []
        return InboundReport(kind="command", recipients=asked)
    return InboundReport(kind="other")


def _complaint(parts: Parts, verp: str | None) -> InboundReport:
    feedback_type = ""
    address = ""
    for block in parts.feedback_blocks:
        for group in fields_of(block):
            feedback_type = feedback_type or group.get("feedback-type", "").strip().lower()
            address = address or address_in(group.get("original-rcpt-to", ""))
    if not address:
        for original in parts.originals:
            address = original_recipient(original)
            if address:
                break
    address = address or (verp or "")
    recipients = [BouncedRecipient(address, "hard", "", f"complaint: {feedback_type or 'abuse'}", "complaint")] if address else []
    return InboundReport(kind="complaint", recipients=recipients, feedback_type=feedback_type or "abuse")


def _looks_like_bounce(msg: Message, parts: Parts) -> bool:
    sender = _header(msg, "From") + " " + _header(msg, "Return-Path")
    subject = _header(msg, "Subject")
    return bool(BOUNCE_SENDER_RE.search(sender) or BOUNCE_SUBJECT_RE.search(subject))


def _is_auto_reply(msg: Message) -> bool:
    submitted = _header(msg, "Auto-Submitted").strip().lower()
    if submitted and not submitted.startswith("no"):
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return True
    if _header(msg, "Precedence").strip().lower() == "auto_reply":
        return True
    return bool(VACATION_SUBJECT_RE.search(_header(msg, "Subject")))


def _bounce(msg: Message, parts: Parts, verp: str | None) -> InboundReport | None:
    text = "\n".join(parts.texts)
    if not parts.status_blocks and re.search(r"^Final-Recipient:", text, re.I | re.MULTILINE):
        # A DSN whose MIME structure is broken (e.g. a wrong boundary): read its fields as text.
        parts.status_blocks.append(text)
    recipients: list[BouncedRecipient] = []
    seen: set[str] = set()
    for item in dsn_recipients(parts.status_blocks):
        address = item.final or item.original
        if item.original and (not item.final or item.final.endswith(".invalid")):
            address = item.original
        if not address or address in seen:
            continue
        seen.add(address)
        context = item.diagnostic or _context(text, address)
        status = find_status(item.status) or find_status(item.diagnostic) or find_status(context)
        reply = find_reply_code(item.diagnostic) or find_reply_code(context)
        delayed = item.action.startswith("delay")
        if item.action in ("delivered", "relayed", "expanded"):
            continue
        bounce_class = "soft" if delayed else class_of(status, reply, context)
        reason = "delayed" if delayed else reason_of(status, reply, item.diagnostic or context)
        recipients.append(BouncedRecipient(address, bounce_class, status, reason, "delayed" if delayed else "failed"))
    if not recipients:
        scanned = _scanned(msg, text, parts)
        for address in scanned:
            if address in seen:
                continue
            seen.add(address)
            context = _context(text, address)
            status = find_status(context)
            reply = find_reply_code(context)
            if not status and not reply and len(scanned) == 1:
                # The error is not next to the address: read the whole report (without the original).
                context = _report_text(text)
                status, reply = find_status(context), find_reply_code(context)
            recipients.append(BouncedRecipient(address, class_of(status, reply, context), status,
                                               reason_of(status, reply, context)))
    if not recipients and verp:
        text = _report_text(text)
        status, reply = find_status(text), find_reply_code(text)
        recipients.append(BouncedRecipient(verp, class_of(status, reply, text), status, reason_of(status, reply, text)))
    if not recipients:
        return None
    if _is_delay_warning(msg, text) and not any(r.status[:1] == "5" for r in recipients):
        recipients = [BouncedRecipient(r.address, "soft", r.status, "delayed", "delayed") for r in recipients]
    if all(r.action == "delayed" for r in recipients):
        return InboundReport(kind="other", recipients=recipients)
    return InboundReport(kind="bounce", recipients=recipients)


def _is_delay_warning(msg: Message, text: str) -> bool:
    return bool(DELAY_SUBJECT_RE.search(_header(msg, "Subject"))) and not re.search(
        r"permanent|gave up|giving up|undeliverable", text, re.I
    )


ORIGINAL_START_RE = re.compile(
    r"^.*(copy of the (original )?message|original message follows|original message|message headers? follow"
    r"|returned message|undelivered message|headers of your message|included below)|^Received: ",
    re.I | re.MULTILINE,
)


def _report_text(text: str) -> str:
    """The text of a bounce without the copy of the original message it may quote inline."""
    match = ORIGINAL_START_RE.search(text)
    return text[: match.start()] if match and match.start() > 0 else text


def _context(text: str, address: str) -> str:
    """The line that names `address` and what follows it (where MTAs put the error)."""
    report = _report_text(text)
    index = report.lower().find(address.lower())
    if index < 0:
        return report
    start = report.rfind("\n", 0, index) + 1
    context = report[start: index + 800]
    line_end = context.find("\n", index - start)
    if line_end < 0:
        return context
    # Stop at the end of the paragraph or at the next transcript line naming another recipient.
    stop = re.search(r"\n\s*\n|\n[245]\d\d[ -]<", context[line_end:])
    return context[: line_end + stop.start()] if stop else context


def _scanned(msg: Message, text: str, parts: Parts) -> list[str]:
    """Recipients of a non-standard bounce: flufl.bounce first, then the wording."""
    found: list[str] = []
    try:
        import flufl.bounce

        temporary, permanent = flufl.bounce.all_failures(msg)
        for value in sorted(permanent | temporary):
            address = address_in(value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
            if address and not NOT_RECIPIENT_RE.match(address) and address not in found:
                found.append(address)
    except Exception:  # noqa: BLE001 - a detector choking on odd input
        log.debug("flufl.bounce failed", exc_info=True)
    # Sendmail-style transcripts name each failed recipient as "550 <addr>... reason".
    for match in TRANSCRIPT_RE.finditer(_report_text(text)):
        address = (match.group(1) or match.group(2)).lower()
        if not NOT_RECIPIENT_RE.match(address) and address not in found:
            found.append(address)
    if found:
        return found
    ours = {address_in(_header(msg, name)) for name in ("From", "To", "Return-Path", "Delivered-To")}
    for original in parts.originals:
        if isinstance(original, Message):
            ours.add(address_in(str(original.get("From", "") or "")))
    for match in ADDRESS_RE.finditer(text):
        address = match.group(0).strip(".").lower()
        if address in ours or NOT_RECIPIENT_RE.match(address):
            continue
        if address not in found:
            found.append(address)
        break
    if not found:
        for original in parts.originals:
            address = original_recipient(original)
            if address:
                found.append(address)
                break
    return found

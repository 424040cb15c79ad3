"""From a composed issue to readers: render once and keep it, preview, test send, queue the send."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from newsletter.errors import Conflict, NotFound, Unavailable
from newsletter.mail.backends import Backend, BackendError, SendResult, SendStatus
from newsletter.config import Settings
from newsletter.delivery.types import Progress
from newsletter.mail.dkim_sign import DkimSigner
from newsletter.mail.links import Links
from newsletter.lists.catalog import profile_for
from newsletter.lists.models import FIRST_LIST_ID
from newsletter.mail.message import MessageTemplate, Reader
from newsletter.db.base import utcnow
from newsletter.issues.models import Issue, IssueStatus
from newsletter.mail.one_off import send_one_off
from newsletter.issues.preflight import Preflight, check_image_addresses, check_rendered
from newsletter.delivery.store import STARTABLE, UNDER_WAY, SqlDeliveryStore
from newsletter.delivery.enqueue import Audience
from newsletter.audience.segments import segment_audience
from newsletter.render.issue import RenderedIssue, fill_html, fill_text, issue_date, render_issue
from newsletter.readers.addresses import normalise_email
from newsletter.issues.tracking import decide_tracking, tracking_enabled
from newsletter.abtests.queue import pending_test, start_test, testing
from newsletter.delivery.enqueue import add_readers


class IssueNotFound(NotFound):
    pass


def forget_render(issue: Issue) -> None:
    """Drop an unsent issue's kept render (its send time changed, so its date did): the publisher
    renders it again when it is next previewed or sent."""
    issue.html = issue.text = issue.web_html = None
    issue.rendered_at = None


class IssueStateError(Conflict):
    """The issue is in a state that does not allow this (e.g. sending a cancelled issue)."""


class TestSendFailed(Unavailable):
    """The mail server refused the test copy (the API answers 502)."""

    http_status = 502


class PreflightFailed(IssueStateError):
    """Preflight found errors; ``queue(..., force=True)`` sends anyway."""

    def __init__(self, issue_id: int, report: Preflight) -> None:
        self.issue_id = issue_id
        self.report = report
        listed = "; ".join(f"{f.code}: {f.message}" for f in report.errors)
        super().__init__(f"issue {issue_id} failed preflight ({len(report.errors)} error(s)): {listed}")


@dataclass(frozen=True)
class QueueResult:
    issue_id: int
    queued: int  # new deliveries created by this call; readers already queued or sent are not again


class Publisher:
    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, store: SqlDeliveryStore, links: Links
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._store = store
        self._links = links

    def rendered(self, issue_id: int) -> RenderedIssue:
        """Render once and keep the result on the issue; later calls reuse it.

        An issue not yet sent is dated by its planned send (``render.issue.masthead_moment``):
        a draft's render from an earlier day is made again, so a preview shows today's date.
        A broken template raises render.TemplateError before anything is stored or sent.
        """
        with self._sessions.begin() as session:
            issue = session.get(Issue, issue_id)
            if issue is None:
                raise IssueNotFound(f"there is no issue {issue_id}")
            if issue.html is None or issue.text is None or self._dated_earlier(issue):
                rendered = render_issue(issue, self._settings, profile_for(self._sessions, self._settings, issue.list_id))
                issue.html, issue.text, issue.rendered_at = rendered.html, rendered.text, utcnow()
                issue.web_html = rendered.web_html  # the archive's whole articles (excerpt mode)
            return RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text)

    def _dated_earlier(self, issue: Issue) -> bool:
        """A draft without a send time, rendered on an earlier day (in the list's zone) than today.
        (A scheduled issue is dated by its time, and scheduling forgets the render: ``forget_render``.)"""
        if issue.status is not IssueStatus.DRAFT or issue.scheduled_at is not None or issue.rendered_at is None:
            return False
        return self._day(issue.rendered_at) != self._day(utcnow())

    def _day(self, moment: datetime) -> str:
        """The date a masthead rendered at ``moment`` shows (render.issue.issue_date): the same
        rule, so "already dated this day" means exactly "shows this date"."""
        return issue_date(moment, self._settings.time_zone)

    def _render_for_send(self, issue_id: int, now: datetime) -> RenderedIssue:
        """The issue as it goes out, dated the day of the send (not of the compose or of an earlier
        preview), once per send; readers all get this one render. The kept render is reused when it
        already shows that day (a preview or test the same day): rendering costs ~0.1 s."""
        with self._sessions() as session:
            issue = session.get(Issue, issue_id)
            if issue is None:
                raise IssueNotFound(f"there is no issue {issue_id}")
            shown = issue.scheduled_at or issue.rendered_at  # the day the kept render's masthead shows
            if issue.html is not None and issue.text is not None and shown is not None \
                    and self._day(shown) == self._day(now):
                return RenderedIssue(issue.subject, issue.preheader, issue.html, issue.text, issue.web_html)
            return render_issue(issue, self._settings, profile_for(self._sessions, self._settings, issue.list_id), dated=now)

    def _keep_for_send(self, issue_id: int, rendered: RenderedIssue, now: datetime) -> None:
        """Store the send's render before the deliveries exist, so no worker compiles an older one;
        only while the issue can still be sent (a send by someone else keeps what it stored)."""
        with self._sessions.begin() as session:
            kept = session.execute(
                update(Issue).where(Issue.id == issue_id, Issue.status.in_(STARTABLE))
                .values(html=rendered.html, text=rendered.text, web_html=rendered.web_html, rendered_at=now),
                execution_options={"synchronize_session": False},
            )
        if not cast("CursorResult[Any]", kept).rowcount:
            self._refuse(issue_id, "send")

    def preview_html(self, issue_id: int) -> str:
        return fill_html(self.rendered(issue_id).html, None, base_url=self._settings.base_url)

    def preview_text(self, issue_id: int) -> str:
        return fill_text(self.rendered(issue_id).text, None, base_url=self._settings.base_url)

    def send_test(self, issue_id: int, to_email: str, backend: Backend) -> SendResult:
        """Send the issue as a reader would get it, to one address, outside the delivery queue."""
        address = normalise_email(to_email)
        template = MessageTemplate.compile(self.rendered(issue_id), self._store.sending_settings(self._settings, issue_id),
                                           subject_prefix="[Test] ",
                                           signer=DkimSigner.from_settings(self._settings))
        reader = Reader(
            email=address,
            name="",
            unsubscribe_url=f"{self._settings.base_url.rstrip('/')}/unsubscribe",
            unsubscribe_mailto=f"mailto:unsubscribe@{self._settings.mail_domain}",
        )
        message_id = f"<test-{issue_id}.{uuid.uuid4().hex}@{self._settings.mail_domain}>"
        data = template.personalise(reader, message_id)
        try:
            result = send_one_off(backend, self._settings, address, message_id, data)
        except BackendError as exc:
            raise TestSendFailed(f"test send to {address} failed: {exc}") from exc
        if result.status is not SendStatus.SENT:
            raise TestSendFailed(f"test send to {address} was refused: {result.code} {result.reply}")
        return result

    def queue(
        self, issue_id: int, force: bool = False, tracking: bool | None = None,
        zones: Sequence[str] | None = None, default_zone: str | None = None, now: datetime | None = None,
        segment_id: int | None = None,
    ) -> QueueResult:
        """Send the issue: one delivery per active reader; workers do the sending.

        An issue is sent once, whoever asks (CLI, admin, API, scheduler): only a draft or a
        scheduled issue is queued, and it moves to sending in the same transaction
        (``SqlDeliveryStore.enqueue``, a compare-and-set), so of two sends at once one queues and
        the other is refused. Anything else raises IssueStateError ("cannot send issue N: it
        is sent"), and nobody is queued.

        Refuses (PreflightFailed) when preflight finds errors, unless ``force``. ``tracking``
        overrides the list's switch for this issue (see ``decide_tracking``). ``zones``: only
        the readers in these zones (the first wave of a local-time send; see ``queue_more``).
        ``segment_id``: only that segment's readers (an unknown one raises UnknownSegment before
        anything changes); the issue keeps it, so later waves take the same readers.

        The issue is rendered again here, dated ``now`` (the caller's clock, e.g. the
        scheduler's tick; default the process clock), the day it goes out, and that render is
        what preflight checks, every reader gets and the archive shows.
        """
        self._ensure_status(issue_id, STARTABLE)  # refused before rendering and preflight
        audience = self._audience(issue_id, segment_id) if segment_id is not None else None
        now = now or utcnow()
        ab_test = pending_test(self._sessions, issue_id)
        if ab_test and not (tracking if tracking is not None else tracking_enabled(self._sessions, self._settings)):
            raise IssueStateError(
                f"cannot send issue {issue_id} with its A/B test: tracking is off, and the winner is chosen "
                "by opens or clicks; turn tracking on, or take the test off (`newsletter issues ab ID --off`)")
        rendered = self._render_for_send(issue_id, now)
        report = None if force else check_rendered(rendered, self._store.sending_settings(self._settings, issue_id), self._links)
        if report is not None:
            check_image_addresses(report, self._sessions, issue_id)
        if report is not None and report.errors:
            raise PreflightFailed(issue_id, report)
        self._keep_for_send(issue_id, rendered, now)
        self._decide_tracking(issue_id, rendered.html, tracking)  # on the render just kept
        def test_share(session: Session) -> int:
            # The test share only (the whole list at once, not in local-time waves); the
            # scheduler sends the winner to the rest (abtests.decide). No test (taken off
            # meanwhile): the readers the send is for, as always.
            where = audience.where if audience else None
            sample = start_test(session, issue_id, now, where)
            return add_readers(session, issue_id, zones, default_zone, where) if sample is None else sample
        queued = self._store.enqueue(issue_id, zones, default_zone, audience, test_share if ab_test else None)
        if queued is None:
            self._refuse(issue_id, "send")  # sent (or cancelled) by someone else meanwhile
        return QueueResult(issue_id, queued or 0)

    def queue_more(
        self, issue_id: int, zones: Sequence[str] | None = None, default_zone: str | None = None
    ) -> QueueResult:
        """Add readers to a send under way (sending or paused): a later local-time wave, or a
        send the scheduler takes up again after a crash. Readers already queued are not again.

        Never starts a send and never reopens one: a draft, a sent or a cancelled issue raises
        IssueStateError and nobody is queued.
        """
        self._ensure_status(issue_id, UNDER_WAY, verb="queue more readers for")
        self.decide_tracking(issue_id)  # a send under way keeps its decision; renders if need be
        with self._sessions() as session:
            segment_id = session.scalar(select(Issue.segment_id).where(Issue.id == issue_id))
        audience = self._audience(issue_id, segment_id) if segment_id is not None else None

        def fill(session: Session) -> int:
            # While an A/B test runs, the rest of the list waits for its winner (abtests.decide).
            if testing(session, issue_id):
                return 0
            return add_readers(session, issue_id, zones, default_zone, audience.where if audience else None)
        queued = self._store.enqueue_more(issue_id, zones, default_zone, audience, fill)
        if queued is None:
            self._refuse(issue_id, "queue more readers for")
        return QueueResult(issue_id, queued or 0)

    def _audience(self, issue_id: int, segment_id: int) -> Audience:
        with self._sessions() as session:
            list_id = session.scalar(select(Issue.list_id).where(Issue.id == issue_id))
            return segment_audience(session, segment_id, list_id or FIRST_LIST_ID)

    def _ensure_status(self, issue_id: int, allowed: Sequence[IssueStatus], verb: str = "send") -> None:
        with self._sessions() as session:
            status = session.scalar(select(Issue.status).where(Issue.id == issue_id))
        if status is None:
            raise IssueNotFound(f"there is no issue {issue_id}")
        if status not in allowed:
            raise IssueStateError(f"cannot {verb} issue {issue_id}: it is {status.value}")

    def decide_tracking(self, issue_id: int, wanted: bool | None = None) -> bool:
        """Whether the issue's opens and clicks are counted: decided as it is first queued (from
        the list's switch unless ``wanted``) and kept; returns the decision."""
        return self._decide_tracking(issue_id, self.rendered(issue_id).html, wanted)

    def _decide_tracking(self, issue_id: int, html: str, wanted: bool | None) -> bool:
        if wanted is None:
            wanted = tracking_enabled(self._sessions, self._settings)
        with self._sessions.begin() as session:
            return decide_tracking(session, issue_id, html, self._settings.base_url, wanted)

    def progress(self, issue_id: int) -> Progress:
        try:
            return self._store.progress(issue_id)
        except LookupError as exc:
            raise IssueNotFound(f"there is no issue {issue_id}") from exc

    def pause(self, issue_id: int) -> None:
        """Workers stop claiming this issue's deliveries within one batch."""
        self._move(issue_id, IssueStatus.PAUSED, [IssueStatus.SENDING], "pause")

    def resume(self, issue_id: int) -> None:
        """Go on where the send stopped: nobody sent is sent again."""
        self._move(issue_id, IssueStatus.SENDING, [IssueStatus.PAUSED], "resume")

    def cancel(self, issue_id: int) -> int:
        """Stop the send for good; returns how many deliveries were skipped."""
        skipped = self._store.cancel(issue_id)
        if skipped is None:
            self._refuse(issue_id, "cancel")
        return skipped or 0

    def _move(self, issue_id: int, to: IssueStatus, allowed: list[IssueStatus], verb: str) -> None:
        if not self._store.set_issue_status(issue_id, to, allowed):
            self._refuse(issue_id, verb)

    def _refuse(self, issue_id: int, verb: str) -> NoReturn:
        with self._sessions() as session:
            issue = session.get(Issue, issue_id)
            if issue is None:
                raise IssueNotFound(f"there is no issue {issue_id}")
            raise IssueStateError(f"cannot {verb} issue {issue_id}: it is {issue.status.value}")

"""`newsletter issues ...`: compose, list, preview, test send, send, approve and schedule."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, ListFlag, emit, list_id_of, progress_bar, services_of, settings_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.delivery.types import Progress

issues_app = typer.Typer(help="Compose, preview and send issues.", no_args_is_help=True)


@issues_app.command("compose")
def compose_cmd(
    ctx: typer.Context,
    week: Annotated[str | None, typer.Option(help="ISO week, e.g. 2026-W48 (default: this week).")] = None,
    list_slug: ListFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Compose the list's articles of the week, newest first, into a draft issue."""
    from newsletter.issues.compose import Week, compose

    with services_of(ctx) as services:
        list_id = list_id_of(services, list_slug)
        result = compose(services.sessions, settings_of(ctx), Week.parse(week) if week else None, list_id=list_id)
    verb = "composed" if result.created else "already composed"
    emit(
        as_json,
        {"id": result.issue_id, "number": result.number, "week": result.week, "subject": result.subject,
         "articles": result.article_count, "created": result.created},
        f"{verb} issue {result.issue_id} (#{result.number}, {result.week}, {result.article_count} articles): "
        f"{result.subject}",
    )


@issues_app.command("list")
def list_cmd(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List issues, newest first."""
    from newsletter.issues.listing import list_issues

    with services_of(ctx) as services:
        rows = [
            {"id": i.id, "number": i.number, "week": i.week or None, "status": i.status, "subject": i.subject}
            for i in list_issues(services.sessions)
        ]
    text = "\n".join(f"{r['id']:>4}  #{r['number']:<4} {r['week'] or '':9} {r['status']:9} {r['subject']}" for r in rows)
    emit(as_json, {"issues": rows}, text or "no issues yet")


@issues_app.command("preview")
def preview_cmd(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(metavar="ID")],
    out: Annotated[Path, typer.Option("--out", help="File to write the preview to.")],
    text: Annotated[bool, typer.Option("--text", help="Write the plain-text part instead of HTML.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write the issue as a reader sees it to a file."""
    with services_of(ctx) as services:
        body = services.publisher.preview_text(issue_id) if text else services.publisher.preview_html(issue_id)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    emit(as_json, {"id": issue_id, "out": str(out), "bytes": len(body.encode())}, f"wrote {out}")


@issues_app.command("send")
def send_cmd(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(metavar="ID")],
    test_to: Annotated[str | None, typer.Option("--test-to", help="Send one test copy to this address only.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Send even if preflight finds errors.")] = False,
    segment: Annotated[int | None, typer.Option("--segment", metavar="ID",
                                                help="Only the active readers of this segment (`segments list`).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue the issue for every active subscriber, or a segment's (workers send it), or send one test copy.

    An issue is sent once: a draft or a scheduled issue is queued, anything else is refused.
    """
    with services_of(ctx) as services:
        if test_to:
            services.publisher.send_test(issue_id, test_to, services.backend)
            emit(as_json, {"id": issue_id, "test_to": test_to, "sent": True}, f"test of issue {issue_id} sent to {test_to}")
            return
        result = services.publisher.queue(issue_id, force=force, segment_id=segment)
    emit(
        as_json,
        {"id": issue_id, "queued": result.queued},
        f"issue {issue_id}: queued {result.queued} deliveries; `newsletter worker` sends them",
    )


@issues_app.command("check")
def check_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Preflight the issue: errors stop a send (exit 1), warnings are worth a look."""
    from newsletter.issues.preflight import check_issue

    with services_of(ctx) as services:
        report = check_issue(services, issue_id)
    lines = [f"error   {f.code}: {f.message}" for f in report.errors]
    lines += [f"warning {f.code}: {f.message}" for f in report.warnings]
    verdict = f"issue {issue_id}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)"
    emit(as_json, report.as_dict(), "\n".join([*lines, verdict]))
    if report.errors:
        raise typer.Exit(1)


def _progress_line(progress: Progress) -> str:
    counts = "  ".join(f"{k} {v}" for k, v in progress.counts.items())
    eta = "-" if progress.eta_seconds is None else f"{progress.eta_seconds:.0f} s"
    line = f"issue {progress.issue_id} ({progress.issue_status}): {counts}  rate {progress.rate_per_second}/s  eta {eta}"
    paced = [f"  {name}: sent {d.sent}  deferred {d.deferred}  rate {'-' if d.rate is None else d.rate}/s"
             for name, d in progress.domains.items()]
    return "\n".join([line, *paced])


@issues_app.command("status")
def status_cmd(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(metavar="ID")],
    watch: Annotated[bool, typer.Option("--watch", help="Show a live progress bar until the send ends.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Deliveries of the issue counted per state, the current rate and the time left."""
    from newsletter.abtests.figures import load_summary
    from newsletter.cli.ab import ab_text

    with services_of(ctx) as services:
        progress = services.publisher.progress(issue_id)
        if watch and not as_json:
            with progress_bar(f"issue {issue_id}", True) as update:
                while True:
                    update(progress.done, progress.total)
                    if progress.issue_status not in ("sending", "paused") or not progress.total:
                        break
                    time.sleep(1)
                    progress = services.publisher.progress(issue_id)
        ab = load_summary(services.sessions, issue_id)
    emit(as_json, {**progress.as_dict(), "ab": ab.as_dict() if ab else None},
         _progress_line(progress) + (f"\n{ab_text(ab)}" if ab else ""))


@issues_app.command("pause")
def pause_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Pause a running send: workers stop claiming within one batch."""
    with services_of(ctx) as services:
        services.publisher.pause(issue_id)
    emit(as_json, {"id": issue_id, "status": "paused"}, f"issue {issue_id} paused")


@issues_app.command("resume")
def resume_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Resume a paused send where it stopped."""
    with services_of(ctx) as services:
        services.publisher.resume(issue_id)
    emit(as_json, {"id": issue_id, "status": "sending"}, f"issue {issue_id} resumed")


@issues_app.command("cancel")
def cancel_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Cancel a send: deliveries not yet sent are marked skipped."""
    with services_of(ctx) as services:
        skipped = services.publisher.cancel(issue_id)
    emit(as_json, {"id": issue_id, "status": "cancelled", "skipped": skipped},
         f"issue {issue_id} cancelled; {skipped} deliveries skipped")


@issues_app.command("approve")
def approve_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Approve the week's draft (schedule mode approve): it is sent at the send time."""
    from newsletter.schedule.cycle import CycleRunner

    with services_of(ctx) as services:
        approval = CycleRunner(services).approve(issue_id)
    emit(as_json, {"id": issue_id, "week": approval.week, "approved_at": approval.approved_at.isoformat()},
         f"issue {issue_id} approved; it is sent at the send time of {approval.week}")


@issues_app.command("schedule")
def schedule_cmd(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(metavar="ID")],
    at: Annotated[str, typer.Option("--at", help='Local date and time, e.g. "2026-12-05 07:00".')],
    tz: Annotated[str | None, typer.Option("--tz", help="Time zone of --at (default: the schedule's).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a draft once at a given time (the scheduler queues it then)."""
    from newsletter.schedule.weekly import load_schedule
    from newsletter.schedule.sends import parse_local, schedule_issue

    with services_of(ctx) as services:
        zone = tz or load_schedule(services.sessions, settings_of(ctx)).time_zone
        when = parse_local(at, zone)
        schedule_issue(services, issue_id, when, datetime.now(timezone.utc))
    emit(as_json, {"id": issue_id, "status": "scheduled", "scheduled_at": when.isoformat(), "time_zone": zone},
         f"issue {issue_id} scheduled for {at} {zone} ({when:%Y-%m-%d %H:%M} UTC)")


@issues_app.command("unschedule")
def unschedule_cmd(ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Take a scheduled issue back to a draft; nothing is sent."""
    from newsletter.schedule.sends import unschedule_issue

    with services_of(ctx) as services:
        unschedule_issue(services, issue_id)
    emit(as_json, {"id": issue_id, "status": "draft"}, f"issue {issue_id} is a draft again")

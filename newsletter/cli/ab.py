"""`newsletter issues ab ID` and `issues ab-decide ID`: an A/B subject test on a draft."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, emit, services_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.abtests.figures import AbSummary


def ab_cmd(
    ctx: typer.Context,
    issue_id: Annotated[int, typer.Argument(metavar="ID")],
    subject: Annotated[list[str] | None, typer.Option(
        "--subject", help="Another subject (B, C, D): 1 to 3 of them; the draft's own subject is A.")] = None,
    fraction: Annotated[float, typer.Option(help="Share of the list in the test, split between the subjects.")] = 0.2,
    metric: Annotated[str, typer.Option(help="How the winner is chosen: opens or clicks (unique, per reader sent).")]
    = "opens",
    wait_hours: Annotated[float, typer.Option("--wait-hours", help="Hours after the send before the winner is chosen.")]
    = 4.0,
    off: Annotated[bool, typer.Option("--off", help="Take the test off: the issue goes to everyone with its subject.")]
    = False,
    as_json: JsonFlag = False,
) -> None:
    """Set an A/B subject test on a draft (needs tracking on), show it, or take it off.

    Without --subject and --off it shows the test and its figures. The send queues the test
    share; the scheduler sends the winner to the rest after --wait-hours (or `issues ab-decide`).
    """
    from newsletter.abtests.figures import load_summary
    from newsletter.abtests.plan import clear_test, set_test
    from newsletter.issues.queries import get_issue

    if off and subject:
        raise typer.BadParameter("give either --subject or --off, not both")
    with services_of(ctx) as services:
        if off:
            had = clear_test(services.sessions, issue_id)
            emit(as_json, {"id": issue_id, "ab": None, "removed": had},
                 f"issue {issue_id}: A/B test taken off" if had else f"issue {issue_id} had no A/B test")
            return
        summary: AbSummary | None
        if subject:
            summary = set_test(services.sessions, services.settings, issue_id, subject, fraction, metric, wait_hours)
        else:
            get_issue(services.sessions, issue_id)  # IssueNotFound for an unknown id
            summary = load_summary(services.sessions, issue_id)
    emit(as_json, {"id": issue_id, "ab": summary.as_dict() if summary else None},
         ab_text(summary) if summary else f"issue {issue_id} has no A/B test")


def ab_decide_cmd(
    ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False
) -> None:
    """Choose the A/B test's winner now, without waiting, and queue the rest of the list with it."""
    from newsletter.abtests.decide import decide

    with services_of(ctx) as services:
        decision = decide(services, issue_id, datetime.now(timezone.utc))
    emit(as_json, {"id": issue_id, "winner": decision.winner, "letter": decision.letter,
                   "subject": decision.subject, "queued": decision.queued},
         f"issue {issue_id}: subject {decision.letter} won ({decision.subject}); "
         f"queued {decision.queued} more deliveries with it")


def ab_text(summary: AbSummary) -> str:
    """The test in lines: its state, then per subject readers sent, opened and clicked."""
    when = ""
    if summary.decide_at is not None:
        when = f", decided at {summary.decide_at:%Y-%m-%d %H:%M} UTC"
    elif summary.decided_at is not None:
        when = f", decided {summary.decided_at:%Y-%m-%d %H:%M} UTC"
    lines = [f"A/B test of issue {summary.issue_id}: {summary.state}{when}; {summary.fraction:.0%} of the list, "
             f"winner by {summary.metric} after {summary.wait_hours:g} h"]
    for v in summary.variants:
        mark = " (winner)" if summary.winner == v.idx else ""
        lines.append(f"  {v.letter}{mark}: {v.subject}  sent {v.sent}/{v.queued}, opened {v.unique_opens}, "
                     f"clicked {v.unique_clicks}")
    return "\n".join(lines)

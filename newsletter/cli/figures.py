"""`newsletter issues figures ID`: what became of an issue (deliveries, unsubscribes, opens, clicks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, emit, services_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.issues.figures import IssueFigures


def figures_cmd(
    ctx: typer.Context, issue_id: Annotated[int, typer.Argument(metavar="ID")], as_json: JsonFlag = False
) -> None:
    """The issue's figures: deliveries by outcome, unsubscribes and complaints, opens and clicks."""
    from newsletter.abtests.figures import load_summary
    from newsletter.cli.ab import ab_text
    from newsletter.issues.figures import issue_figures

    with services_of(ctx) as services:
        figures = issue_figures(services.sessions, issue_id)
        ab = load_summary(services.sessions, issue_id)
    text = figures_text(figures) + (f"\n{ab_text(ab)}" if ab else "")
    emit(as_json, {**figures.as_dict(), "ab": ab.as_dict() if ab else None}, text)


def figures_text(figures: IssueFigures) -> str:
    lines = [
        f"issue {figures.issue_id}: {figures.recipients} recipients",
        f"  sent {figures.sent}, deferred {figures.deferred}, bounced {figures.bounced}, "
        f"failed {figures.failed}, skipped {figures.skipped}",
        f"  unsubscribes {figures.unsubscribes}, complaints {figures.complaints}",
    ]
    if figures.tracked:
        lines.append(f"  opens {figures.opens} ({figures.unique_opens} readers), "
                     f"clicks {figures.clicks} ({figures.unique_clicks} readers)")
    else:
        lines.append("  opens and clicks: not tracked")
    return "\n".join(lines)

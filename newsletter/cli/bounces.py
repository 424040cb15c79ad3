"""`newsletter bounces`: read bounce, complaint and auto-reply messages (`parse`: no database needed),
and list the reports that changed nothing for lack of proof (`unverified`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, emit, services_of

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.inbound.bounces import InboundReport

bounces_app = typer.Typer(help="Bounces, complaints and auto-replies sent back to us.", no_args_is_help=True)


def _text(report: InboundReport) -> str:
    lines = [report.kind + (f" ({report.feedback_type})" if report.feedback_type else "")]
    for item in report.recipients:
        status = f" {item.status}" if item.status else ""
        reason = f": {item.reason}" if item.reason else ""
        lines.append(f"  {item.address}  {item.bounce_class}{status} [{item.action}]{reason}")
    for proof in report.proofs:
        lines.append(f"  proof: {proof.kind} token {proof.token} (not checked here)")
    return "\n".join(lines)


@bounces_app.command("parse")
def parse_command(
    path: Annotated[Path, typer.Argument(help="A message file (.eml), as received.", exists=True, dir_okay=False)],
    verp: Annotated[
        str | None, typer.Option("--verp", help="The recipient decoded from the VERP envelope address, if any.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Say what a message is (bounce, complaint, auto-reply, command, other) and whom it names."""
    from newsletter.inbound.bounces import classify_message

    report = classify_message(path.read_bytes(), verp_recipient=verp)
    emit(as_json, report.as_dict(), _text(report))


@bounces_app.command("unverified")
def unverified_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="Show at most this many, newest first.")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Reports received that changed nothing: they named readers without our signed token (anyone
    can write one), or a provider's webhook named no reader of ours, or was a refusal we do not act
    on. Lift a wrong suppression with `newsletter subscribers unsuppress EMAIL`."""
    from newsletter.inbound.unverified import unverified_reports

    with services_of(ctx) as services:
        reports = unverified_reports(services.sessions, limit)
    lines = [f"{len(reports)} unverified reports (newest first)" if reports else "no unverified reports"]
    for r in reports:
        lines.append(f"  {r.received_at:%Y-%m-%d %H:%M} UTC  {r.kind} to {r.sent_to}: "
                     f"{', '.join(r.addresses) or '(no address)'}  [{r.reason}]")
    emit(as_json, {"reports": [r.as_dict() for r in reports]}, "\n".join(lines))

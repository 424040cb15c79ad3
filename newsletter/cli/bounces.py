"""`newsletter bounces`: read bounce, complaint and auto-reply messages (no database needed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli.common import JsonFlag, emit

if TYPE_CHECKING:  # domain modules are imported inside the commands, so `newsletter --help` starts fast
    from newsletter.inbound.bounces import InboundReport

bounces_app = typer.Typer(help="Bounces, complaints and auto-replies sent back to us.", no_args_is_help=True)


def _text(report: InboundReport) -> str:
    lines = [report.kind + (f" ({report.feedback_type})" if report.feedback_type else "")]
    for item in report.recipients:
        status = f" {item.status}" if item.status else ""
        reason = f": {item.reason}" if item.reason else ""
        lines.append(f"  {item.address}  {item.bounce_class}{status} [{item.action}]{reason}")
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

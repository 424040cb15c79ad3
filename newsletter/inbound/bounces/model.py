"""The result of reading one inbound message at the bounce address."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from newsletter.inbound.bounces.proof import Proof

Kind = Literal["bounce", "complaint", "auto-reply", "command", "other"]
BounceClass = Literal["hard", "soft"]


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient named by a report.

    `action` is "failed" for a final failure and "delayed" for a delay warning (the MTA is
    still retrying): a delayed recipient is listed, with class "soft", but is not a bounce.
    """

    address: str
    bounce_class: BounceClass
    status: str = ""
    reason: str = ""
    action: str = "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "class": self.bounce_class,
            "status": self.status,
            "reason": self.reason,
            "action": self.action,
        }


@dataclass(frozen=True)
class InboundReport:
    """What a message is, and whom it is about."""

    kind: Kind
    recipients: list[BouncedRecipient] = field(default_factory=list)
    feedback_type: str = ""
    # Our signed tokens found in the original it carries, not yet checked (inbound.reports).
    proofs: tuple[Proof, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "recipients": [r.as_dict() for r in self.recipients]}
        if self.feedback_type:
            data["feedback_type"] = self.feedback_type
        if self.proofs:
            data["proofs"] = [{"kind": p.kind, "token": p.token} for p in self.proofs]
        return data

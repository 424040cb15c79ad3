"""Reading bounces, complaints and auto-replies that come back to the bounce address."""

from newsletter.inbound.bounces.model import BouncedRecipient, BounceClass, InboundReport, Kind
from newsletter.inbound.bounces.parse import classify_message
from newsletter.inbound.bounces.proof import Proof

__all__ = ["BounceClass", "BouncedRecipient", "InboundReport", "Kind", "Proof", "classify_message"]

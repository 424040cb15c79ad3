"""Reading bounces, complaints and auto-replies that come back to the bounce address."""

from newsletter.inbound.bounces.model import BouncedRecipient, BounceClass, InboundReport, Kind
from newsletter.inbound.bounces.parse import classify_message

__all__ = ["BounceClass", "BouncedRecipient", "InboundReport", "Kind", "classify_message"]

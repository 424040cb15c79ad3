"""Outgoing webhooks (Standard Webhooks): endpoints, the outbox the domain adds events to in its own
transactions, and the deliverer the worker runs."""

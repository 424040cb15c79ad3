"""Audiences: tags and typed custom fields on readers, and segments (saved filters on a list)."""

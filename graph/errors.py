"""The domain's refusals: the one base class of errors whose message is meant for the caller."""

from __future__ import annotations


class DomainError(ValueError):
    """A request the domain refuses: its message says why and is safe to show a client (the API
    shows it as it is, `api.schema`; it masks every other unexpected error)."""

"""The error the API raises for a bad request: its message is shown to the client as is.

Domain refusals (`graph.errors.DomainError` and its subclasses) reach the client the same way
(`api.schema`); anything else is masked as "Unexpected error." and logged.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the request itself; its message is shown to the client as is."""

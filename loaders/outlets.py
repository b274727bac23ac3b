"""The editorial outlet registry file (`outlets.json`): its entries, validated.

`services.registry.load_registry` writes them into the graph."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from graph.errors import DomainError
from graph.model import Tier
from loaders.records import Name, describe


class OutletEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: Name
    aliases: list[Name] = Field(default_factory=list)
    tier: Tier
    group: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    country: Annotated[str, Field(max_length=100)] | None = None
    kind: Annotated[str, Field(max_length=100)] | None = None


class Registry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    outlets: list[OutletEntry]


class RegistryError(DomainError):
    """The registry file is not valid; the message names the entry and field."""


def parse_registry(text: str) -> Registry:
    """Validate the text of an `outlets.json` file."""
    try:
        return Registry.model_validate_json(text)
    except ValidationError as exc:
        raise RegistryError(describe(exc)) from None

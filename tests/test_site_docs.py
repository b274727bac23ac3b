"""Every query docs/site.md shows is valid against the schema (the site is built from them)."""

from __future__ import annotations

import re

from graphql import parse, validate

from api.schema import schema
from tests.support.graphql import ROOT


def test_every_query_in_the_site_guide_validates() -> None:
    text = (ROOT / "docs" / "site.md").read_text("utf-8")
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    assert len(blocks) >= 7
    for block in blocks:  # each a document of named operations
        errors = validate(schema._schema, parse(block))
        assert not errors, (block, errors)

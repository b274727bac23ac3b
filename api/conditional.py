"""Conditional GETs: whether a request's `If-None-Match` names an answer's ETag (RFC 9110
13.1.2), for every answer with validators: GraphQL GETs (`api.delivery`) and the Atom feeds
(`api.feeds`)."""

from __future__ import annotations


def _opaque(tag: str) -> str:
    """A tag without its weakness mark: If-None-Match compares weakly (`W/"1"` is `"1"`)."""
    return tag[2:] if tag.startswith("W/") else tag


def none_match(header: str | None, tag: str) -> bool:
    """True when the `If-None-Match` header value `header` names `tag`, among a list of tags
    (`"a", W/"b"`), weakly, or is `*`: the client holds the answer already (304)."""
    if header is None:
        return False
    asked = {part.strip() for part in header.split(",")}
    return "*" in asked or _opaque(tag) in {_opaque(t) for t in asked if t}

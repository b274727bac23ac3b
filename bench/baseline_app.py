"""The event page's baseline: a plain Starlette JSON endpoint, no GraphQL, same store, same data.

    python -m bench.baseline_app --store DIR --port PORT

`POST /page` takes the same body as the GraphQL request (`{"query": ..., "variables": {"id":
...}}`; the query is ignored) and answers `{"data": {"event": {...}}}` with exactly what the seed
page's GraphQL query returns, built with the same store calls the DataLoaders make (one batch per
kind of read). `bench/event_page.py` checks that the two answers are equal before timing them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.order import report_order
from graph.confidence import POLICY_SETTING, Policy, current_policy
from graph.embedded import EmbeddedStore
from graph.model import Node, Rel, strings
from graph.store import GraphStore


def _str(props: Any, name: str) -> str:
    value = props.get(name)
    return value if isinstance(value, str) else ""


def _enum(value: str) -> str:
    """A GraphQL enum value's name as strawberry serialises it: `state-affiliated` ->
    `STATE_AFFILIATED`."""
    return value.upper().replace("-", "_")


def page(store: GraphStore, policy: Policy, event_id: str) -> dict[str, Any] | None:
    """The seed page's data for one event, or None when there is no such event."""
    found = store.get_nodes([event_id]).get(event_id)
    if found is None or found.label.value != "Event":
        return None
    props = found.props
    (located,) = store.edges([event_id], Rel.OCCURRED_IN, "out").values()
    (reported,) = store.edges([event_id], Rel.REPORTS, "in").values()
    (involved,) = store.edges([event_id], Rel.INVOLVES, "out").values()
    (described,) = store.edges([event_id], Rel.DESCRIBES, "in").values()
    located = sorted(located, key=lambda e: (str(e.props.get("first_reported")), e.dst))
    # the place chosen by evidence (services.places), else the earliest reported
    chosen = props.get("place_id")
    located = sorted(located, key=lambda e: e.dst != chosen)
    reported = sorted(reported, key=report_order)
    described = sorted(described, key=lambda e: (str(e.props.get("first_extracted_at")), e.src))
    stories = [e.src for e in described]
    published = store.edges(stories, Rel.PUBLISHED, "in")
    countries = store.edges([e.dst for e in located[:1]], Rel.IN_COUNTRY, "out")
    wanted: list[str] = [e.dst for e in located[:1]]
    wanted += [e.dst for es in countries.values() for e in es[:1]]
    wanted += (
        [e.src for e in reported] + [e.discriminator for e in reported] + [e.dst for e in involved]
    )
    wanted += stories + [es[0].src for es in published.values() if es]
    nodes = store.get_nodes(list(dict.fromkeys(wanted)))

    place: Node | None = nodes.get(located[0].dst) if located else None
    country: Node | None = None
    if place is not None:
        edges = countries.get(place.id) or []
        country = nodes.get(edges[0].dst) if edges else None
        if country is None and _str(place.props, "kind") == "country":
            country = place

    status = str(props.get("location_check") or "none")
    if props.get("location_corrected") and status == "ok":
        status = "corrected"
    reason, suggestion = props.get("location_reason"), props.get("location_suggestion")
    check = {
        "status": status,
        "reason": reason if isinstance(reason, str) else None,
        "suggestion": suggestion if isinstance(suggestion, str) else None,
    }

    level = str(props.get("confidence") or "unverified")
    next_level = props.get("confidence_next")
    sources = list(dict.fromkeys(e.src for e in reported))
    entities = [(nodes[e.dst], strings(e.props, "roles")) for e in involved if e.dst in nodes]
    entities.sort(key=lambda pair: (_str(pair[0].props, "name").casefold(), pair[0].id))

    def outlet_of(story: str) -> dict[str, str] | None:
        edges = published.get(story) or []
        node = nodes.get(edges[0].src) if edges else None
        return {"name": _str(node.props, "name")} if node is not None else None

    return {
        "id": event_id,
        "category": _enum(_str(props, "category")),
        "summary": _str(props, "summary"),
        "occurredOn": _str(props, "occurred_on"),
        "place": {"name": _str(place.props, "name")} if place is not None else None,
        "country": {"name": _str(country.props, "name")} if country is not None else None,
        "locationCheck": check,
        "confidence": {
            "level": _enum(level),
            "label": policy.label(level),
            "independentSources": int(props.get("independent_sources") or 0),  # type: ignore[arg-type]
            "trustedSources": int(props.get("trusted_sources") or 0),  # type: ignore[arg-type]
            "explanation": str(props.get("confidence_explanation") or ""),
            "nextLevel": _enum(next_level) if isinstance(next_level, str) else None,
            "hint": str(props.get("confidence_hint") or ""),
            "needs": {
                "independentSources": int(props.get("needs_independent") or 0),  # type: ignore[arg-type]
                "trustedSources": int(props.get("needs_trusted") or 0),  # type: ignore[arg-type]
            },
        },
        "sources": [
            {
                "id": s,
                "name": _str(nodes[s].props, "name"),
                "tier": _enum(_str(nodes[s].props, "tier") or "unknown"),
            }
            for s in sources
            if s in nodes
        ],
        "reports": [
            {
                "outlet": {"name": _str(nodes[e.src].props, "name")},
                "claims": [
                    {"text": text, "tone": _enum(tone)}
                    for text, tone in zip(
                        strings(e.props, "claim_texts"),
                        strings(e.props, "claim_tones"),
                        strict=True,
                    )
                ],
                "story": {"slug": _str(nodes[e.discriminator].props, "slug")},
            }
            for e in reported
        ],
        "entities": [
            {
                "roles": roles,
                "entity": {
                    "id": node.id,
                    "name": _str(node.props, "name"),
                    "type": _enum(_str(node.props, "type")),
                    "aliases": strings(node.props, "aliases"),
                },
            }
            for node, roles in entities
        ],
        "extraction": {
            "firstExtractedAt": str(props.get("first_extracted_at")),
            "lastExtractedAt": str(props.get("last_extracted_at")),
            "ingestedAt": str(props.get("ingested_at")),
            "stories": [
                {"slug": _str(nodes[s].props, "slug"), "outlet": outlet_of(s)}
                for s in stories
                if s in nodes
            ],
        },
    }


def create_app(store: GraphStore) -> Starlette:
    policies: dict[str | None, Policy] = {}

    def policy() -> Policy:
        stored = store.get_setting(POLICY_SETTING)
        if stored not in policies:
            policies[stored] = current_policy(store)
        return policies[stored]

    async def endpoint(request: Request) -> Response:
        body = json.loads(await request.body())
        event_id = body["variables"]["id"]
        data = page(store, policy(), event_id)
        if data is None:
            return JSONResponse(
                {"data": {"event": None}, "errors": [{"message": f"no event with id '{event_id}'"}]}
            )
        return JSONResponse({"data": {"event": data}})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        store.setup()
        try:
            yield
        finally:
            store.close()

    return Starlette(routes=[Route("/page", endpoint, methods=["POST"])], lifespan=lifespan)


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    # The same server settings as `newsgraph serve`.
    uvicorn.run(
        create_app(EmbeddedStore(args.store)), host="127.0.0.1", port=args.port, log_level="warning"
    )


if __name__ == "__main__":
    main()

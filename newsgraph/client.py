"""A small typed client for a running newsgraph server, for analysts' notebooks and scripts.

    from newsgraph.client import Client
    nc = Client("http://127.0.0.1:8000", token="...")        # an analyst's token
    df = nc.frame(entities=["Vladimir Putin", "Alexander Lukashenko"])  # pandas, one row an event

`events` and `timeline` read GraphQL (anyone may); `export`, `table` and `frame` read the
server's exports (`/export/{format}`: the analyst, editor or admin role). `table` and `frame`
need the `tables` extra (`pip install 'newsgraph[tables]'`: pyarrow, pandas); `frame(library=
"polars")` takes polars if it is installed. Only httpx is needed otherwise.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import httpx

EVENT_FIELDS = """
  id category summary occurredOn latitude longitude
  confidence { level label independentSources }
  place { id name } country { id name }
  sources { id name }
  entities { roles entity { id name type } }
"""
EVENTS = f"""
query Events($first: Int!, $after: String, $filter: EventFilterInput, $order: Order!) {{
  events(first: $first, after: $after, filter: $filter, order: $order) {{
    edges {{ node {{ {EVENT_FIELDS} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""
TIMELINE = f"""
query Timeline($id: ID, $name: String, $first: Int!, $after: String,
               $filter: EventFilterInput, $order: Order!) {{
  entity(id: $id, name: $name) {{
    timeline(first: $first, after: $after, filter: $filter, order: $order) {{
      edges {{ node {{ {EVENT_FIELDS} }} }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}
"""
PAGE = 100  # the server's largest page
Order = Literal["NEWEST_FIRST", "OLDEST_FIRST"]


class NewsgraphError(Exception):
    """The server refused or failed a request; the message is the server's."""


class Client:
    """A newsgraph server at `url` (its root, e.g. http://127.0.0.1:8000), as `token`'s
    holder (None: anonymous)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- GraphQL ---------------------------------------------------------------------------

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of a GraphQL operation; `NewsgraphError` with the server's messages when
        it answers errors."""
        response = self._http.post(
            "/graphql",
            json={"query": document, "variables": variables or {}},
            headers={"Accept": "application/graphql-response+json, application/json"},
        )
        try:
            body = response.json()
        except ValueError:
            raise NewsgraphError(f"HTTP {response.status_code}: {response.text[:200]}") from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise NewsgraphError("; ".join(str(e.get("message")) for e in errors))
        if response.status_code >= 400 or not isinstance(body.get("data"), dict):
            raise NewsgraphError(f"HTTP {response.status_code}: {response.text[:200]}")
        data: dict[str, Any] = body["data"]
        return data

    def events(
        self,
        *,
        entity: str | None = None,
        entities: Sequence[str] = (),
        any_of: bool = False,
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
        categories: Sequence[str] = (),
        min_confidence: str | None = None,
        country: str | None = None,
        order: Order = "OLDEST_FIRST",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events as the API gives them (dicts), every page read, at most `limit`; `entity` is
        an entity id, `entities` entity ids the events involve every one of (any one with
        `any_of`), `country` a country's Place id or ISO code."""
        flt = _filter(entity, date_from, date_to, categories, min_confidence, country)
        if entities:
            flt["entities"] = list(entities)
            flt["entitiesMatch"] = "ANY" if any_of else "ALL"
        return list(self._pages(EVENTS, ("events",), {"filter": flt, "order": order}, limit))

    def timeline(
        self,
        entity: str,
        *,
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
        categories: Sequence[str] = (),
        min_confidence: str | None = None,
        order: Order = "OLDEST_FIRST",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The events of one entity (its id, or its name or an alias), oldest first."""
        by = {"id": entity} if entity.startswith("en_") else {"name": entity}
        flt = _filter(None, date_from, date_to, categories, min_confidence, None)
        variables = {**by, "filter": flt, "order": order}
        return list(self._pages(TIMELINE, ("entity", "timeline"), variables, limit))

    def _pages(
        self, document: str, path: tuple[str, ...], variables: dict[str, Any], limit: int | None
    ) -> Iterator[dict[str, Any]]:
        after: str | None = None
        given = 0
        while limit is None or given < limit:
            data: Any = self.query(document, {**variables, "first": PAGE, "after": after})
            for key in path:
                data = data.get(key) if isinstance(data, dict) else None
                if data is None:
                    raise NewsgraphError(f"no {path[0]} found for {variables}")
            for edge in data["edges"]:
                if limit is not None and given >= limit:
                    return
                given += 1
                yield edge["node"]
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]

    # -- exports -----------------------------------------------------------------------------

    def export(
        self,
        fmt: str,
        *,
        entities: Sequence[str] = (),
        date_from: dt.date | str | None = None,
        date_to: dt.date | str | None = None,
        categories: Sequence[str] = (),
        min_confidence: str | None = None,
        country: str | None = None,
        outlet: str | None = None,
    ) -> bytes:
        """The server's export in `fmt` (csv, parquet, jsonl, graphml, gexf, cytoscape-json)
        of the events involving every one of `entities` (ids or names) within the filter."""
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("entity", e) for e in entities
        ]
        params += [("category", c) for c in categories]
        for name, value in (
            ("from", date_from),
            ("to", date_to),
            ("minConfidence", min_confidence),
            ("country", country),
            ("outlet", outlet),
        ):
            if value is not None:
                params.append((name, str(value)))
        response = self._http.get(f"/export/{fmt}", params=params)
        if response.status_code != 200:
            try:
                message = "; ".join(e["message"] for e in response.json()["errors"])
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise NewsgraphError(f"HTTP {response.status_code}: {message}")
        return response.content

    def table(self, **filters: Any) -> Any:
        """The events as a pyarrow Table (one row an event: the columns of
        `services.table.COLUMNS`), read from the server's Parquet export."""
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(self.export("parquet", **filters)))

    def frame(self, library: Literal["pandas", "polars"] = "pandas", **filters: Any) -> Any:
        """The events as a pandas (or polars) data frame, one row an event."""
        table = self.table(**filters)
        if library == "polars":
            import polars

            return polars.from_arrow(table)
        return table.to_pandas()


def _filter(
    entity: str | None,
    date_from: dt.date | str | None,
    date_to: dt.date | str | None,
    categories: Sequence[str],
    min_confidence: str | None,
    country: str | None,
) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    if entity is not None:
        flt["entity"] = entity
    if date_from is not None:
        flt["from"] = str(date_from)
    if date_to is not None:
        flt["to"] = str(date_to)
    if categories:
        flt["categories"] = list(categories)
    if min_confidence is not None:
        flt["minConfidence"] = min_confidence
    if country is not None:
        flt["country"] = country
    return flt

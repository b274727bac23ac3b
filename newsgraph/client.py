"""A small typed client for a running newsgraph server, for analysts' notebooks and scripts.

    from newsgraph.client import Client
    nc = Client("http://127.0.0.1:8000", token="...")        # an analyst's token
    df = nc.frame(entities=["Vladimir Putin", "Alexander Lukashenko"])  # pandas, one row an event

`events` and `timeline` read GraphQL (anyone may); `export`, `table` and `frame` read the
server's exports (`/export/{format}`: the analyst, editor or admin role), and `counts` and
`counts_frame` its event counts (`/export/counts/{format}`, the same role):

    nc.counts_frame(by=["period", "category"], interval="week", tiers=["trusted"])

`table`, `frame` and `counts_frame` need the `tables` extra (`pip install
'newsgraph[tables]'`: pyarrow, pandas); `library="polars"` takes polars if it is installed.
Only httpx is needed otherwise.
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
Count = Literal["period", "category", "confidence", "country"]


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
        roles: Sequence[str] = (),
        entity_types: Sequence[str] = (),
        tones: Sequence[str] = (),
        tiers: Sequence[str] = (),
        groups: Sequence[str] = (),
        order: Order = "OLDEST_FIRST",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Events as the API gives them (dicts), every page read, at most `limit`; `entity` is
        an entity id, `entities` entity ids the events involve every one of (any one with
        `any_of`), `country` a country's Place id or ISO code. `roles` (of `entity` when
        given), `entity_types`, `tones`, `tiers`, `groups`: any of them, as docs/analytics.md
        says ("target", "organization", "denied", "state-affiliated", an outlet group)."""
        flt = _filter(entity, date_from, date_to, categories, min_confidence, country)
        flt |= _around(roles, entity_types, tones, tiers, groups)
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
        roles: Sequence[str] = (),
        entity_types: Sequence[str] = (),
        tones: Sequence[str] = (),
        tiers: Sequence[str] = (),
        groups: Sequence[str] = (),
        order: Order = "OLDEST_FIRST",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The events of one entity (its id, or its name or an alias), oldest first; `roles`:
        those where it holds one of them."""
        by = {"id": entity} if entity.startswith("en_") else {"name": entity}
        flt = _filter(None, date_from, date_to, categories, min_confidence, None)
        flt |= _around(roles, entity_types, tones, tiers, groups)
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
        roles: Sequence[str] = (),
        entity_types: Sequence[str] = (),
        tones: Sequence[str] = (),
        tiers: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> bytes:
        """The server's export in `fmt` (csv, parquet, jsonl, graphml, gexf, cytoscape-json)
        of the events involving every one of `entities` (ids or names) within the filter
        (`roles`: of the first entity when given)."""
        params = _parameters(
            entities, date_from, date_to, categories, min_confidence, country, outlet
        )
        params += _around_parameters(roles, entity_types, tones, tiers, groups)
        return self._get(f"/export/{fmt}", params).content

    def _get(self, path: str, params: list[tuple[str, str]]) -> httpx.Response:
        query: list[tuple[str, str | int | float | bool | None]] = list(params)
        response = self._http.get(path, params=query)
        if response.status_code != 200:
            try:
                message = "; ".join(e["message"] for e in response.json()["errors"])
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            raise NewsgraphError(f"HTTP {response.status_code}: {message}")
        if response.headers.get("X-Complete") == "false":
            counted = response.headers.get("X-Events-Counted")
            raise NewsgraphError(
                f"the counts are incomplete: only the oldest {counted} events were counted; "
                "narrow the filter"
            )
        return response

    def counts(
        self,
        by: Sequence[Count] = ("period",),
        interval: Literal["day", "week", "month"] = "month",
        **filters: Any,
    ) -> list[dict[str, Any]]:
        """Event counts, one dict per group with a key per dimension of `by` (period,
        category, confidence, country; `period_start`, `period_end`, `country_id` and
        `country`) and `count`, for the events of `filters` (those of `export`). Raises
        `NewsgraphError` when the server counted only part of them (a bound)."""
        params = self._count_parameters(by, interval, filters)
        answer = self._get("/export/counts/json", params).json()
        groups: list[dict[str, Any]] = answer["groups"]
        return groups

    def counts_frame(
        self,
        by: Sequence[Count] = ("period",),
        interval: Literal["day", "week", "month"] = "month",
        library: Literal["pandas", "polars"] = "pandas",
        **filters: Any,
    ) -> Any:
        """`counts` as a pandas (or polars) data frame, one row a group (read as Parquet)."""
        import pyarrow.parquet as pq

        params = self._count_parameters(by, interval, filters)
        table = pq.read_table(io.BytesIO(self._get("/export/counts/parquet", params).content))
        return _frame(table, library)

    @staticmethod
    def _count_parameters(
        by: Sequence[str], interval: str, filters: dict[str, Any]
    ) -> list[tuple[str, str]]:
        around = {
            k: filters.pop(k, ()) for k in ("roles", "entity_types", "tones", "tiers", "groups")
        }
        params = [("by", b) for b in by] + [("interval", interval)]
        params += _parameters(**filters)
        params += _around_parameters(**around)
        return params

    def table(self, **filters: Any) -> Any:
        """The events as a pyarrow Table (one row an event: the columns of
        `services.table.COLUMNS`), read from the server's Parquet export."""
        import pyarrow.parquet as pq

        return pq.read_table(io.BytesIO(self.export("parquet", **filters)))

    def frame(self, library: Literal["pandas", "polars"] = "pandas", **filters: Any) -> Any:
        """The events as a pandas (or polars) data frame, one row an event."""
        return _frame(self.table(**filters), library)


def _frame(table: Any, library: Literal["pandas", "polars"]) -> Any:
    if library == "polars":
        import polars

        return polars.from_arrow(table)
    return table.to_pandas()


def _enum(value: str) -> str:
    """A vocabulary's value as GraphQL names it: state-affiliated -> STATE_AFFILIATED."""
    return value.upper().replace("-", "_")


def _around(
    roles: Sequence[str],
    entity_types: Sequence[str],
    tones: Sequence[str],
    tiers: Sequence[str],
    groups: Sequence[str],
) -> dict[str, Any]:
    """The relationship parts of a GraphQL `EventFilterInput` (those given)."""
    given = {
        "roles": list(roles),
        "entityTypes": [_enum(t) for t in entity_types],
        "tones": [_enum(t) for t in tones],
        "tiers": [_enum(t) for t in tiers],
        "groups": list(groups),
    }
    return {name: values for name, values in given.items() if values}


def _around_parameters(
    roles: Sequence[str] = (),
    entity_types: Sequence[str] = (),
    tones: Sequence[str] = (),
    tiers: Sequence[str] = (),
    groups: Sequence[str] = (),
) -> list[tuple[str, str]]:
    """The same as an export's query parameters (lower case, as the records say)."""
    params = [("role", r) for r in roles] + [("entityType", t.lower()) for t in entity_types]
    params += [("tone", t.lower()) for t in tones]
    params += [("tier", t.lower().replace("_", "-")) for t in tiers]
    return params + [("group", g) for g in groups]


def _parameters(
    entities: Sequence[str] = (),
    date_from: dt.date | str | None = None,
    date_to: dt.date | str | None = None,
    categories: Sequence[str] = (),
    min_confidence: str | None = None,
    country: str | None = None,
    outlet: str | None = None,
) -> list[tuple[str, str]]:
    """An export's filter as query parameters."""
    params = [("entity", e) for e in entities] + [("category", c) for c in categories]
    for name, value in (
        ("from", date_from),
        ("to", date_to),
        ("minConfidence", min_confidence),
        ("country", country),
        ("outlet", outlet),
    ):
        if value is not None:
            params.append((name, str(value)))
    return params


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

"""What the analysts' filters read of an event's relationships in memory (`graph.store.
Surroundings`, for `admits_around`): made once per read, so a walk of many events builds
nothing per event, and a relationship's JSON is decoded only when it can hold what the filter
looks for."""

from __future__ import annotations

from collections.abc import Sequence

from graph.embedded.codec import decode_props
from graph.embedded.memory import EdgeData, Graph
from graph.model import Props, Rel, Value, strings
from graph.store import EventFilter, Involvement


class InMemory:
    """The `Surroundings` of events in the embedded store's graph, for one filter."""

    def __init__(self, graph: Graph, fresh: dict[int, dict[str, Value]], flt: EventFilter) -> None:
        self._graph = graph
        self._fresh = fresh  # the properties of relationships the open write decoded
        self._typed = bool(flt.entity_types)
        self._roles = bool(flt.roles)
        self._only = flt.entity
        # A role can only be in a relationship's JSON when its lower-cased text is: most are
        # not decoded. Roles that JSON would escape, or not plain ASCII, are looked for by
        # decoding every one.
        plain = [
            r for r in flt.roles if r.isascii() and r.isprintable() and not {'"', "\\"} & set(r)
        ]
        self._needles = plain if len(plain) == len(flt.roles) else None
        # a tone (a fixed word) is in a report's JSON as "tone" when its claims hold it
        self._quoted = [f'"{tone}"' for tone in flt.tones]

    def _decoded(self, data: EdgeData) -> Props:
        return self._fresh.get(data["row"]) or decode_props(data["json"])

    def involvements(self, event_id: str) -> list[Involvement]:
        attrs = self._graph._node
        found: list[Involvement] = []
        for other, parallel in self._graph._succ.get(event_id, {}).items():
            for data in parallel.values():
                if data["type"] is not Rel.INVOLVES:
                    continue
                entity: Props | None = None
                if self._typed:
                    node = attrs.get(other)
                    entity = node["props"] if node is not None and "props" in node else None
                roles: Sequence[str] = ()
                # roles are read of the filter's entity only when it names one
                if self._roles and self._only in (None, other):
                    needles = self._needles
                    if needles is None or any(n in data["json"].lower() for n in needles):
                        roles = strings(self._decoded(data), "roles")
                found.append((other, entity, roles))
        return found

    def reports(self, event_id: str) -> list[Props]:
        quoted = self._quoted
        return [
            self._decoded(data)
            for parallel in self._graph._pred.get(event_id, {}).values()
            for data in parallel.values()
            if data["type"] is Rel.REPORTS and any(q in data["json"] for q in quoted)
        ]

    def outlets(self, ids: Sequence[str]) -> dict[str, Props]:
        attrs = self._graph._node
        return {i: node["props"] for i in ids if (node := attrs.get(i)) and "props" in node}

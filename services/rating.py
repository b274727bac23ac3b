"""The rating step: an event's confidence recomputed from all of its reports, inside the write
that changed them, with each change of level added to the event's confidence history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.confidence import Policy, Report, assess
from graph.history import HISTORY, LevelChange, Why
from graph.model import Label, NodeWrite, PropertyWrite, Props, Rel, WriteBatch
from graph.store import Derive, GraphReader, WriteConflict


def rating(
    event_ids: Sequence[str],
    policy: Policy,
    why: Why,
    at: str,
    changes: list[LevelChange] | None = None,
    details: Mapping[str, str] | None = None,
) -> Derive:
    """The `derive` step that rates `event_ids` from all their reports, as the write's own
    transaction sees them (so concurrent loaders' reports all count).

    Each change of level is appended to the event's confidence history, saying `why` (with
    the event's own entry of `details`, if any) and when (`at`), and to `changes`, which the
    caller publishes once the write has committed."""

    def derive(graph: GraphReader) -> WriteBatch:
        if changes is not None:
            changes.clear()  # a store may run the transaction again
        reports = graph.edges(event_ids, Rel.REPORTS, "in")
        outlets = graph.get_nodes(sorted({e.src for edges in reports.values() for e in edges}))
        missing = {e.src for edges in reports.values() for e in edges} - outlets.keys()
        if missing:
            raise WriteConflict(f"reports from outlets not visible yet: {sorted(missing)}")
        events = graph.get_nodes(list(event_ids))
        batch = WriteBatch()
        for event_id, edges in reports.items():
            event = events.get(event_id)
            if event is None:
                continue  # merged away in this very write
            views = [report_view(e.src, outlets[e.src].props, e.props) for e in edges]
            rated = assess(views, policy)
            merge = PropertyWrite(set=rated.to_props())
            previous = event.props.get("confidence")
            if previous != rated.level:
                detail = (details or {}).get(event_id) or why.detail
                change = LevelChange(
                    at=at,
                    event_id=event_id,
                    previous=previous if isinstance(previous, str) else None,
                    level=rated.level,
                    cause=why.cause,
                    detail=detail,
                    by=why.by,
                )
                entry = change.to_entry()
                # `level_since`: the events' "level changed" order (graph.store.EVENT_ORDERS)
                since = {**merge.set, "level_since": at}
                merge = PropertyWrite(set=since, union={HISTORY: [entry]})
                batch.level_changes.append((event_id, entry))  # for the change log
                if changes is not None:
                    changes.append(change)
            batch.nodes.append(NodeWrite(event_id, Label.EVENT, merge))
        return batch

    return derive


def report_view(outlet_id: str, outlet: Props, report: Props) -> Report:
    """What confidence needs of one REPORTS relationship and its outlet."""
    tier = outlet.get("tier")
    group = outlet.get("group")
    tones = report.get("claim_tones")
    return Report(
        outlet_id=outlet_id,
        tier=tier if isinstance(tier, str) else "unknown",
        group=group if isinstance(group, str) and group else f"outlet:{outlet_id}",
        tones=tuple(tones) if isinstance(tones, list) else (),
    )

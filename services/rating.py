"""The rating step: an event's confidence recomputed from all of its reports, inside the write
that changed them, with each change of level added to the event's confidence history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.confidence import Policy, Report, assess
from graph.history import HISTORY, LevelChange, Why
from graph.model import (
    RETRACTED_ON,
    Edge,
    Label,
    NodeWrite,
    PropertyWrite,
    Props,
    Rel,
    WriteBatch,
)
from graph.store import TRACK, Derive, GraphReader, WriteConflict


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
            derived = {**rated.to_props(), TRACK: track(edges, views, rated.level, policy)}
            merge = PropertyWrite(set=derived)
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
                since = {**derived, "level_since": at}
                merge = PropertyWrite(set=since, union={HISTORY: [entry]})
                batch.level_changes.append((event_id, entry))  # for the change log
                if changes is not None:
                    changes.append(change)
            batch.nodes.append(NodeWrite(event_id, Label.EVENT, merge))
        return batch

    return derive


def track(edges: Sequence[Edge], views: Sequence[Report], level: str, policy: Policy) -> list[str]:
    """What an event adds to the track record of each outlet that reported it (`TRACK`): one
    entry per outlet, its flags: `c` another independent group reported it too; `d` its level
    is disputed; `f` the outlet reported it first (its earliest report, by the story's
    publication date or else the extraction time, is the event's earliest; ties: each); `r`
    every report of it by the outlet is retracted. A retracted report corroborates nothing and
    is nobody's first, as it counts for no level (`graph.confidence.assess`)."""
    outlets: set[str] = set()
    groups: dict[str, set[str]] = {}
    earliest: dict[str, str] = {}
    for edge, view in zip(edges, views, strict=True):
        outlets.add(edge.src)
        if view.retracted:
            continue
        groups.setdefault(edge.src, set()).add(view.group)
        when = edge.props.get("story_published_on") or edge.props.get("extracted_at")
        moment = when if isinstance(when, str) else "~"  # unknown: after any known time
        earliest[edge.src] = min(earliest.get(edge.src, moment), moment)
    every_group = {group for found in groups.values() for group in found}
    first = min(earliest.values(), default="")
    disputed = level == policy.disputed.level
    entries = []
    for outlet in sorted(outlets):
        if outlet not in groups:
            entries.append(f"{outlet}|r" + ("d" if disputed else ""))
            continue
        flags = "c" if every_group - groups[outlet] else ""
        flags += "d" if disputed else ""
        flags += "f" if earliest[outlet] == first else ""
        entries.append(f"{outlet}|{flags}")
    return entries


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
        retracted=bool(report.get(RETRACTED_ON)),
    )

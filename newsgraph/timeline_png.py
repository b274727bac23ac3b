"""`newsgraph timeline NAME --png FILE`: an entity's timeline as a picture.

Two stacked bar charts over the same weeks (or days, or months): events per bucket by category,
and by confidence level. Drawn with matplotlib's Agg backend (no display needed), from
`graph.analytics.timeline_buckets`, so the picture counts exactly what the API's
`Entity.timelineBuckets` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from graph import analytics
from graph.analytics import Interval, Timeline
from graph.model import CATEGORIES, LEVELS
from graph.store import EVERYTHING, EventFilter, GraphStore
from services.selection import find_entity

# Colours people read without a legend: red for disputed, green for verified.
LEVEL_COLOURS = {
    "disputed": "#c0392b",
    "unverified": "#95a5a6",
    "likely": "#e67e22",
    "verified": "#27ae60",
}


def render(
    store: GraphStore,
    entity_id: str,
    png: Path,
    interval: Interval = "week",
    window: EventFilter = EVERYTHING,
) -> Timeline:
    """Draw the entity's timeline into `png`; returns the buckets drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    timeline = analytics.timeline_buckets(store, entity_id, interval, window)
    entity = analytics.entity_node(store, entity_id)
    figure = Figure(figsize=(11, 7), dpi=100, layout="constrained")
    by_category, by_level = figure.subplots(2, 1, sharex=True)
    buckets = timeline.buckets
    starts = [b.start for b in buckets]
    width = {"day": 0.8, "week": 6, "month": 27}[interval]
    _stack(
        by_category,
        starts,
        width,
        [(c, [b.by_category.get(c, 0) for b in buckets], None) for c in CATEGORIES],
    )
    _stack(
        by_level,
        starts,
        width,
        [(v, [b.by_confidence.get(v, 0) for b in buckets], LEVEL_COLOURS[v]) for v in LEVELS],
    )
    unit = {"day": "day", "week": "week (Monday to Sunday)", "month": "month"}[interval]
    name = entity.text("name")
    span = f"{timeline.date_from} to {timeline.date_to}" if buckets else "no events"
    figure.suptitle(f"{name}: {timeline.total} events per {unit}, {span}")
    by_category.set_title("by category", loc="left")
    by_level.set_title("by confidence level", loc="left")
    for axes in (by_category, by_level):
        axes.set_ylabel("events")
        axes.yaxis.get_major_locator().set_params(integer=True)
    if not buckets:
        by_category.text(0.5, 0.5, "no events", ha="center", va="center")
    elif starts:
        by_level.set_xlim(starts[0] - timedelta(days=1), buckets[-1].end + timedelta(days=1))
    if timeline.bounds:
        note = "; ".join(b.message for b in timeline.bounds)
        figure.text(0.01, 0.005, f"incomplete: {note}", fontsize=8, color="#c0392b")
    figure.autofmt_xdate()
    png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(png, format="png")
    return timeline


def _stack(
    axes: Any, starts: list[Any], width: float, series: list[tuple[str, list[int], str | None]]
) -> None:
    bottom = [0] * len(starts)
    for label, counts, colour in series:
        if not any(counts):
            continue
        axes.bar(starts, counts, width, bottom=bottom, label=label, color=colour, align="edge")
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if any(bottom):
        axes.legend(loc="upper left", fontsize=8, ncols=3)


def command(
    store_option: Callable[[Any], Any],
    opened: Callable[[str | None], AbstractContextManager[GraphStore]],
) -> click.Command:
    """The `newsgraph timeline` command, built on the CLI's store option."""

    @click.command("timeline")
    @click.argument("name")
    @store_option
    @click.option(
        "--png",
        "png",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="Where to write the picture.",
    )
    @click.option(
        "--interval", type=click.Choice(["day", "week", "month"]), default="week", show_default=True
    )
    @click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), default=None)
    @click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), default=None)
    def timeline(
        name: str,
        store_spec: str | None,
        png: Path,
        interval: Interval,
        date_from: Any,
        date_to: Any,
    ) -> None:
        """Draw an entity's events per week by category and confidence level into a PNG.
        NAME is its name, any alias or its id."""
        with opened(store_spec) as store:
            try:
                entity = find_entity(store, name)
                window = analytics.window(
                    date_from=date_from.date().isoformat() if date_from else None,
                    date_to=date_to.date().isoformat() if date_to else None,
                )
                drawn = render(store, entity, png, interval, window)
            except (analytics.AnalyticsError, LookupError) as exc:
                raise click.ClickException(str(exc)) from None
        click.echo(f"{png}: {drawn.total} events in {len(drawn.buckets)} {interval}s")

    return timeline

"""The order the event page lists an event's reports in, for the API and the benchmarks'
baseline (`bench/baseline_app.py`) alike."""

from __future__ import annotations

from graph.model import Edge


def report_order(edge: Edge) -> tuple[str, str, int, str]:
    """The order the page lists reports in: earliest extraction, then as the record did."""
    position = edge.props.get("position")
    return (
        str(edge.props.get("extracted_at")),
        edge.discriminator,
        position if isinstance(position, int) else 0,
        edge.src,
    )

"""Bulk load into the embedded store, against a floor measured in the same run.

    python -m bench.load_embedded [--events 100000] [--repeat 3] [--profile FILE]

Each repetition loads the generated records (N events, about 1.5 N records: a third of the
events arrive in two or more records) into an empty store holding the outlet registry, the way
`newsgraph load` does (validation, resolution, merging, confidence, one SQLite transaction per
batch of 500), then loads the same file again into the same store (every record merges, nothing
changes). The floor: decoding the same lines and adding the same nodes and relationships to a
plain networkx graph, with ids from the same identity keys but no validation, no resolution
lookups, no merging and no persistence. Figures are medians over the repetitions.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/load_embedded.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    Row,
    arguments,
    count_lines,
    dataset,
    load_records,
    load_registry_file,
    log,
    print_table,
    save_results,
)


def floor(path: Path) -> tuple[float, int]:
    """Seconds to decode every line and add its nodes and relationships to a networkx graph."""
    import networkx as nx

    from graph import keys

    def entity_id(mention: dict[str, Any]) -> str:
        return keys.node_id("en", keys.entity_keys(mention["type"], [mention["name"]])[0])

    def outlet_id(name: str) -> str:
        return keys.node_id("ou", keys.outlet_keys([name])[0])

    started = time.perf_counter()
    graph: Any = nx.MultiDiGraph()
    records = 0
    with path.open("rb") as stream:
        for line in stream:
            record = json.loads(line)
            records += 1
            event, story = record["event"], record["source_story"]
            if "id" in event:
                event_key = keys.event_external_key(event["id"])
            else:
                day = str(event["occurred_on"])[:10]
                event_key = keys.event_summary_key(day, event["category"], event["summary"])
            event_id = keys.node_id("ev", event_key)
            graph.add_node(
                event_id,
                label="Event",
                category=event["category"],
                summary=event["summary"],
                occurred_on=event["occurred_on"],
            )
            source = outlet_id(story["outlet"])
            story_id = keys.story_id(source, story["slug"])
            graph.add_node(source, label="Outlet", name=story["outlet"])
            graph.add_node(story_id, label="Story", slug=story["slug"], url=story.get("url"))
            graph.add_edge(source, story_id, "PUBLISHED", type="PUBLISHED")
            graph.add_edge(story_id, event_id, "DESCRIBES", type="DESCRIBES")
            location = event.get("location")
            if location:
                country, place = location.get("country"), location.get("place")
                target = None
                if country:
                    target = country_id = keys.node_id("pl", keys.country_key(country))
                    graph.add_node(country_id, label="Place", name=country, kind="country")
                if place:
                    target = place_id = keys.node_id("pl", keys.place_key(place, country))
                    graph.add_node(place_id, label="Place", name=place, kind="place")
                    if country:
                        graph.add_edge(place_id, country_id, "IN_COUNTRY", type="IN_COUNTRY")
                graph.add_edge(event_id, target, "OCCURRED_IN", type="OCCURRED_IN")
            for mention in event.get("entities", []):
                entity = entity_id(mention)
                graph.add_node(
                    entity, label="Entity", name=mention["name"], aliases=mention.get("aliases")
                )
                graph.add_edge(
                    event_id, entity, "INVOLVES", type="INVOLVES", roles=[mention.get("role")]
                )
            for position, report in enumerate(event["reports"]):
                outlet = outlet_id(report["outlet"])
                graph.add_node(outlet, label="Outlet", name=report["outlet"])
                claims = report.get("claims", [])
                graph.add_edge(
                    outlet,
                    event_id,
                    story_id,
                    type="REPORTS",
                    claim_texts=[c["text"] for c in claims],
                    claim_tones=[c["tone"] for c in claims],
                    position=position,
                )
    return time.perf_counter() - started, records


def store_load(
    directory: Path, records: Path, registry: Path, profile: Path | None = None
) -> tuple[float, float, Any, Any]:
    """(load seconds, reload seconds, load summary, reload summary) into a fresh store."""
    from graph.embedded import EmbeddedStore

    shutil.rmtree(directory, ignore_errors=True)
    store = EmbeddedStore(directory)
    store.setup()
    try:
        load_registry_file(store, registry)
        profiler = cProfile.Profile() if profile is not None else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        first = load_records(store, records)
        if profiler is not None:
            profiler.disable()
        loaded = time.perf_counter() - started
        if profiler is not None and profile is not None:
            profiler.dump_stats(str(profile))
            stats = pstats.Stats(str(profile))
            stats.sort_stats("cumulative").print_stats(40)
            stats.sort_stats("tottime").print_stats(25)
        started = time.perf_counter()
        second = load_records(store, records)
        reloaded = time.perf_counter() - started
    finally:
        store.close()
    return loaded, reloaded, first, second


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions [3]")
    parser.add_argument(
        "--profile", type=Path, help="also profile one load with cProfile into this file"
    )
    args = parser.parse_args(argv)

    data = dataset(args.workdir, args.events, args.seed)
    lines = count_lines(data.records)
    target = args.workdir / f"load-{args.events}-s{args.seed}"
    if args.profile is not None:
        log("profiling one load (not timed)")
        store_load(target, data.records, data.registry, args.profile)

    floors: list[float] = []
    loads: list[float] = []
    reloads: list[float] = []
    summary: Any = None
    for rep in range(args.repeat):
        seconds, records = floor(data.records)
        floors.append(records / seconds)
        log(f"rep {rep + 1}: floor {records / seconds:,.0f} records/s")
        loaded, reloaded, summary, again = store_load(target, data.records, data.registry)
        loads.append(lines / loaded)
        reloads.append(lines / reloaded)
        log(
            f"rep {rep + 1}: load {lines / loaded:,.0f} records/s "
            f"({summary.events_created} events created, {summary.events_merged} merged), "
            f"reload {lines / reloaded:,.0f} records/s ({again.events_merged} merged)"
        )
    shutil.rmtree(target, ignore_errors=True)

    floor_rate, load_rate = statistics.median(floors), statistics.median(loads)
    reload_rate = statistics.median(reloads)
    rows = [
        Row(
            "load into an empty store",
            load_rate,
            "records/s",
            floor_rate,
            "floor: decode + plain networkx",
            "≥ 5,000/s and ≥ 0.4x floor",
            load_rate >= 5000 and load_rate >= 0.4 * floor_rate,
        ),
        Row(
            "reload the same file (all merges)",
            reload_rate,
            "records/s",
            load_rate,
            "first load",
            "≥ 1.0x first load",
            reload_rate >= load_rate,
        ),
    ]
    print_table(
        f"Bulk load, embedded store: {lines:,} records of {args.events:,} events "
        f"({summary.events_created:,} event nodes), medians of {args.repeat}",
        rows,
    )
    save_results(
        args.workdir,
        f"load_embedded-{args.events}",
        {
            "records": lines,
            "events_created": summary.events_created,
            "floor": floors,
            "load": loads,
            "reload": reloads,
        },
    )


if __name__ == "__main__":
    main()

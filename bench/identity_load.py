"""Event identity through the real loader, against the offline rules measured in the same run.

    python -m bench.identity_load --records ../shared/data/ged-syria-2017h1-no-ids.jsonl \\
        --truth ../shared/data/ged-syria-2017h1-truth.json [--store embedded|neo4j] [--limit N]

The records (`event.id` stripped where present, so every record goes through the matcher) are
loaded by `services.load.load_streams` (the loader of `newsgraph load`: batches of 500, the
matcher against the store, profiles and matching keys rebuilt in the write) into a fresh store:
the embedded store in a temporary folder, or with `--store neo4j` the Bolt server that
NEWSGRAPH_TEST_NEO4J_URI names, else an ArcadeDB started here (`bench/load_neo4j.py`), emptied
first. `--registry` loads an outlet registry first (identity does not depend on it).

Each line's event is then read back from the store: the owner of the line's record key
(`event:record:{Mention.record_key()}`), so merges made after the line was placed count. The
queue is the editorial log's `possible-duplicate` entries; one is a true pair when the record
that made the new event (its id derives from the record key) has its true event among the true
events of the other event's records (as `bench.identity` counts it).

Printed: events found against true events, pairwise P/R/F1, B-cubed P/R and the queue, for the
loader, and beside them the offline figures of `bench.identity` (today's fingerprint rule, the
floor, the offline matcher) on the same records, and whether the loader's grouping equals the
offline matcher's (and where not, how many records differ).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

if __package__ in (None, ""):  # run as a file: python bench/identity_load.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.identity import (
    HEADER,
    Item,
    Quality,
    floor_rule,
    line,
    quality,
    read_truth,
    run_matcher,
    todays_rule,
    true_queued,
)
from graph import keys
from graph.identity import Mention
from graph.model import Label
from graph.store import GraphStore

POSSIBLE_DUPLICATE = "possible-duplicate"


@dataclass
class Loaded:
    labels: list[str]  # each line's event in the store
    record_keys: list[str]  # each line's record key (the loader's)
    queue: list[tuple[str, str]]  # (new event, the event it may duplicate)
    seconds: float
    events_in_store: int
    again: int  # records the loader placed as a story extracted again


def strip_ids(source: Path, limit: int | None) -> tuple[list[Item], bytes]:
    """The records of `source` (the first `limit`) without `event.id`, and as JSON Lines."""
    items: list[Item] = []
    lines: list[str] = []
    with source.open(encoding="utf-8") as stream:
        for text in stream:
            if not text.strip():
                continue
            if limit is not None and len(items) >= limit:
                break
            raw = json.loads(text)
            raw["event"].pop("id", None)
            items.append(Item(Mention.from_record(raw), None, raw))
            lines.append(json.dumps(raw, ensure_ascii=False))
    return items, ("\n".join(lines) + "\n").encode("utf-8")


@contextlib.contextmanager
def fresh_store(kind: str, workdir: Path) -> Iterator[GraphStore]:
    """An empty store of `kind`, set up."""
    if kind == "embedded":
        from graph.embedded import EmbeddedStore

        store: GraphStore = EmbeddedStore(workdir / "store")
        store.setup()
        try:
            yield store
        finally:
            store.close()
        return
    from bench.load_neo4j import bolt_server, empty
    from graph.neo4j import Neo4jStore

    with bolt_server(workdir) as server:
        print(f"server: {server[0]} (database {server[3] or 'default'})", file=sys.stderr)
        neo = Neo4jStore(*server)
        neo.setup()
        try:
            empty(neo)
            yield neo
        finally:
            neo.close()


def pending_duplicates(store: GraphStore) -> list[tuple[str, str]]:
    """(event, other) of every possible duplicate in the editorial log."""
    found: list[tuple[str, str]] = []
    after: tuple[str, str] | None = None
    while True:
        page = store.find_nodes(Label.EDIT, {"action": POSSIBLE_DUPLICATE}, "at", 1000, after)
        found += [(n.text("subject"), n.text("other")) for n in page]
        if len(page) < 1000:
            return found
        after = (page[-1].text("at"), page[-1].id)


def load(data: bytes, store: GraphStore, registry: Path | None) -> Loaded:
    """Load `data` through `newsgraph load`'s loader into `store`; each line's event."""
    from loaders.jsonl import RejectSink
    from services.load import load_streams

    if registry is not None:
        from loaders.outlets import parse_registry
        from services.registry import load_registry

        load_registry(store, parse_registry(registry.read_text("utf-8")))
    with tempfile.TemporaryFile() as stream:
        stream.write(data)
        stream.seek(0)
        started = time.perf_counter()
        summary = load_streams(store, [("records", cast(BinaryIO, stream))], RejectSink(None))
        seconds = time.perf_counter() - started
    if summary.rejected:
        raise SystemExit(f"{summary.rejected} records rejected by the loader")
    record_keys = loader_record_keys(data)
    owners = store.lookup_keys(sorted(set(record_keys)))
    missing = [k for k in record_keys if k not in owners]
    if missing:
        raise SystemExit(f"{len(missing)} record keys own no event, e.g. {missing[0]}")
    labels = [owners[k] for k in record_keys]
    return Loaded(
        labels,
        record_keys,
        pending_duplicates(store),
        seconds,
        store.counts().get("Event", 0),
        extracted_again(store, sorted(set(labels))),
    )


def extracted_again(store: GraphStore, events: Sequence[str]) -> int:
    """How many records the loader placed by the re-extraction rule (docs/identity.md: a record
    of a story an event holds from another extraction joins that event), from the decisions
    kept on DESCRIBES."""
    from graph.model import Rel
    from services.matching import decisions

    again = 0
    for start in range(0, len(events), 1000):
        described = store.edges(events[start : start + 1000], Rel.DESCRIBES, "in")
        for edges in described.values():
            for _, decision in decisions(edges):
                notes = decision.get("notes") or []
                again += any(str(n).startswith("re-extraction") for n in notes)
    return again


def loader_record_keys(data: bytes) -> list[str]:
    """Each line's record key as the loader makes it (`services.mentions.mention_of` of the
    validated record: its story key is the outlet's `graph.keys.normalise`d name, where the
    offline mention's is `name_key`, transliterated)."""
    from loaders.records import Record, parse_line
    from services.mentions import mention_of

    found = []
    for number, text in enumerate(data.decode("utf-8").splitlines(), 1):
        record = parse_line(text, number)
        if not isinstance(record, Record):
            raise SystemExit(f"line {number}: {record}")
        found.append(keys.event_record_key(mention_of(record).record_key()))
    return found


def true_pairs_queued(
    record_keys: Sequence[str], labels: Sequence[str], truth: Sequence[str], queue: Sequence[Any]
) -> int:
    """How many queued pairs are true: the record that made the new event has its true event
    among the other event's records' (as `bench.identity.true_queued` counts it)."""
    maker = {keys.node_id("ev", k): n for n, k in reversed(list(enumerate(record_keys)))}
    members: dict[str, set[str]] = defaultdict(set)
    for label, true in zip(labels, truth, strict=True):
        members[label].add(true)
    return sum(
        1 for event, other in queue if event in maker and truth[maker[event]] in members[other]
    )


def differing(a: Sequence[str], b: Sequence[str]) -> int:
    """How many records are not grouped alike by `a` and `b` (0: the same partition): a record
    counts when the records sharing its group in `a` are not those sharing it in `b`."""
    groups_a: dict[str, list[int]] = defaultdict(list)
    groups_b: dict[str, list[int]] = defaultdict(list)
    for n, (x, y) in enumerate(zip(a, b, strict=True)):
        groups_a[x].append(n)
        groups_b[y].append(n)
    return sum(1 for x, y in zip(a, b, strict=True) if groups_a[x] != groups_b[y])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=Path, required=True, help="JSON Lines records")
    parser.add_argument("--truth", type=Path, required=True, help="JSON list: line i's event")
    parser.add_argument("--store", choices=("embedded", "neo4j"), default="embedded")
    parser.add_argument("--limit", type=int, help="only the first N records")
    parser.add_argument("--registry", type=Path, help="an outlet registry to load first")
    args = parser.parse_args(argv)
    items, data = strip_ids(args.records, args.limit)
    truth = read_truth(args.truth)[: len(items)]
    if len(truth) != len(items):
        parser.error(f"{len(truth)} truth entries for {len(items)} records")
    out = print
    out(
        f"{len(items)} records (event.id stripped), {len(set(truth))} true events; "
        f"store {args.store}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with (
        tempfile.TemporaryDirectory(prefix="identity-load-") as tmp,
        fresh_store(args.store, Path(tmp)) as store,
    ):
        loaded = load(data, store, args.registry)
    run = run_matcher(items)
    results: dict[str, Quality] = {
        "today": quality(todays_rule(items), truth),
        "floor": quality(floor_rule(items), truth),
        "floor_1": quality(floor_rule(items, window=1), truth),
        "offline": quality(run.labels, truth),
        "loader": quality(loaded.labels, truth),
    }
    out(HEADER)
    out(line(f"loader ({args.store})", results["loader"]))
    out(line("matcher, offline", results["offline"]))
    out(line("today's rule (offline)", results["today"]))
    out(line("floor (same day)", results["floor"]))
    out(line("floor (a day either side)", results["floor_1"]))
    queue = loaded.queue
    out(
        f"possible duplicates queued: loader {len(loaded.queue)} "
        f"(true pairs {true_pairs_queued(loaded.record_keys, loaded.labels, truth, queue)}), "
        f"offline matcher {len(run.queue)} (true pairs {true_queued(run, truth)})"
    )
    out(f"event nodes in the store: {loaded.events_in_store}")
    rate = len(items) / loaded.seconds if loaded.seconds else float("inf")
    offline = run.matched / run.seconds if run.seconds else float("inf")
    out(
        f"speed: loader {rate:,.0f} records/s (the whole load: validation, resolution, "
        f"matching, writes); offline matcher alone {offline:,.0f} records/s"
    )
    differ = differing(loaded.labels, run.labels)
    if differ:
        out(
            f"loader vs offline matcher: {differ} records grouped differently; the loader placed "
            f"{loaded.again} records as a story extracted again (another `extracted_at` of a "
            f"story an event holds: docs/identity.md), a rule the offline matcher does not have"
        )
    else:
        out("loader vs offline matcher: the same grouping")
    return 0


if __name__ == "__main__":
    sys.exit(main())

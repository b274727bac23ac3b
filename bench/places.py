"""How many places the gazetteer resolves, and how close to the records' own points.

    python -m bench.places [--ucdp PATH] [--wikitimes PATH] [--limit N]

For each record of the UCDP file (ged-syria-2017h1-no-ids.jsonl, every record with a place and
most with a point) and the wikitimes file, the location goes through `graph.gazetteer.check`
as a load does: resolved, unresolved or conflict. For the records with a point, how often the
resolved entry lies within 25 km of it (and the median distance). The wikitimes records give no
location; their entity mentions are checked instead (names that are a country or a city of the
gazetteer), by entity type. Prints the gazetteer's load time and the checks per second of a
cold cache (each distinct location once) beside the figures. docs/places.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/places.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from graph import gazetteer
from graph.gazetteer import NEAR_KM, distance_km

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def records(path: Path, limit: int | None) -> list[dict[str, Any]]:
    found = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                found.append(json.loads(line))
            if limit is not None and len(found) >= limit:
                break
    return found


def locations(path: Path, limit: int | None) -> None:
    rows = records(path, limit)
    statuses: Counter[str] = Counter()
    distances: list[float] = []
    near = with_point = 0
    unresolved: Counter[str] = Counter()
    started = time.perf_counter()
    checked = 0
    for record in rows:
        location = record["event"].get("location") or {}
        place, country = location.get("place"), location.get("country")
        lat, lon = location.get("lat"), location.get("lon")
        if not (place or country or lat is not None):
            statuses["no location"] += 1
            continue
        found = gazetteer.check(place, country, lat, lon)
        checked += 1
        statuses[found.status] += 1
        if found.status == "unresolved":
            unresolved[str(place)] += 1
        if lat is not None and lon is not None and found.entry and found.entry.lat is not None:
            with_point += 1
            km = distance_km(lat, lon, found.entry.lat, found.entry.lon or 0.0)
            distances.append(km)
            near += km <= NEAR_KM
    seconds = time.perf_counter() - started
    located = sum(statuses[s] for s in ("resolved", "unresolved", "conflict"))
    resolved = statuses["resolved"] + statuses["conflict"]
    print(f"{path.name}: {len(rows)} records, {located} with a location")
    for status, count in sorted(statuses.items()):
        print(f"  {status:<12} {count:>6}  {count / max(located, 1):6.1%}")
    print(f"  resolved to an entry: {resolved} of {located} ({resolved / max(located, 1):.1%})")
    if with_point:
        print(
            f"  with a point and an entry: {with_point}; entry within {NEAR_KM:.0f} km of the "
            f"point: {near} ({near / with_point:.1%}); median distance "
            f"{statistics.median(distances):.1f} km"
        )
    print(f"  most frequent unresolved: {unresolved.most_common(8)}")
    print(f"  {checked} checks in {seconds:.2f} s ({checked / max(seconds, 1e-9):,.0f}/s)")


def mentions(path: Path, limit: int | None) -> None:
    rows = records(path, limit)
    by_type: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for record in rows:
        for entity in record["event"].get("entities") or []:
            by_type[entity["type"]] += 1
            found = gazetteer.check(entity["name"], None)
            resolved[entity["type"]] += found.entry is not None
    located = sum(1 for r in rows if r["event"].get("location"))
    print(f"{path.name}: {len(rows)} records, {located} with a location")
    for kind, count in sorted(by_type.items()):
        print(
            f"  entity mentions of type {kind:<13} {count:>5}; name is a gazetteer place or "
            f"country: {resolved[kind]:>4} ({resolved[kind] / count:.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ucdp", type=Path, default=DATA / "ged-syria-2017h1-no-ids.jsonl")
    parser.add_argument("--wikitimes", type=Path, default=DATA / "wikitimes-2015-09.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="records per file")
    args = parser.parse_args()
    started = time.perf_counter()
    gazetteer.gazetteer()
    print(
        f"gazetteer loaded in {time.perf_counter() - started:.2f} s "
        f"({len(gazetteer.gazetteer().entries)} cities)"
    )
    locations(args.ucdp, args.limit)
    mentions(args.wikitimes, args.limit)


if __name__ == "__main__":
    main()

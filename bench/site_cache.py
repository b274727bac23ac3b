"""The event page with the response cache, against PostgreSQL + PostGraphile, under the mix
issue 17 names: Zipf over events, one write per 100 reads through `ingest`, 8 clients.

    python -m bench.site_cache [--events 100000] [--workers N] [--rounds 3] [--requests 10000]
                               [--concurrency 8] [--zipf 1.1] [--writes-per-100 1] [--warmup N]

As `bench.peer` (same data, same client: the peer's `latency.py --client raw`, the same events
in the same order on both sides), but the ids each client asks for are drawn with a Zipf law
(exponent `--zipf`, ranks a seeded permutation of the events, so hot events are spread over the
data), and while each round runs a writer sends each side its own writes at `--writes-per-100`
for every 100 reads that side answered in its previous round (4 writes in flight at most, so
a slow answer does not slow the rate, and each next rate halfway from the last to what its
reads asked for; warm-ups with writes, each as many reads as a round, set the first round's
rate, and the throughput target counts as met only if each side's writes came within 25% of
the mix):
newsgraph an `ingest` mutation (a loader token), the peer the same record through its
`load.py` (parse and merge, one transaction each, in processes of its own). Each write is a
new story about an event drawn from the same Zipf law, so hot pages are the ones written to.
newsgraph serves a copy of the cached store (the writes never reach the cache), with its
response cache on (the default).

After the rounds, the last writes' events are read back through the cache: a page that does not
show the story its write added is stale (the target is none). The hit rate is read from the
server's /metrics (`newsgraph_response_cache_total`, every process summed). Figures are the
medians over the rounds, the peer's the baseline; raw figures in WORKDIR/result-site-cache.json.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx

if __package__ in (None, ""):  # run as a file: python bench/site_cache.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from bench.common import (
    Row,
    copy_store,
    free_port,
    log,
    page_body,
    print_table,
    running,
    save_results,
)
from bench.peer import latency, medians
from bench.serving import (
    PAGE_QUERY_FILE,
    Peer,
    newsgraph_store,
    parse_serving,
    peer_data,
    registry_file,
    run_main,
    serve_with_workers,
    serving_arguments,
)

# A warm-up asks as many pages as a round (`--requests`, unless `--warmup` says otherwise): with
# 2,000 (sessions 9-15) a warm-up asked a third of the events a round asks, so round 1 made
# the other two thirds for the first time, and the write rate the warm-ups set (their pages all
# kept) was too many for it: 1.7-2.2 writes per 100 reads in round 1 (session 16: 2.23, while the
# peer's rounds had 0.72-1.00), a round in the median's three that was not the mix.
TOKEN = "bench-loader-token-0123456789abcdefghij"
INGEST = "mutation($r: [JSON!]!) { ingest(records: $r) { loaded merged rejected } }"
STORIES = "query($id: ID!) { event(id: $id) { extraction { stories { slug } } } }"
# The peer's writer: each line of stdin, one record, parsed and merged by its own load.py.
PEER_WRITER = """
import json, sys
sys.path.insert(0, sys.argv[1])
import load, psycopg
conn = psycopg.connect(load.default_db(), autocommit=True)
conn.execute(load.STAGING)
rows = {k: [] for k in load.COLS}
for n, line in enumerate(sys.stdin, 1):
    load.parse(json.loads(line), n, rows)
    load.flush(conn, rows)
    print("ok", flush=True)
"""
# The stories earlier runs' writes added to the peer's database (ours serves a fresh copy of the
# cached store each run). Left there, each run's writes were the same stories again, by the same
# slugs, on the same events (the writes are drawn by a seeded generator): merged as nothing new,
# the peer's pages never grew, while ours took each write's story (session 14: the peer's
# answers 4,816 bytes on average in every round, ours 6,315, 8,506 and 10,020).
PEER_FORGET = """
import sys
sys.path.insert(0, sys.argv[1])
import load, psycopg
with psycopg.connect(load.default_db(), autocommit=True) as conn:
    deleted = conn.execute("delete from news.stories where slug like 'bench-write-%'").rowcount
    conn.execute("vacuum analyze news.stories, news.event_stories")
    print(deleted)
"""


@dataclass
class Mix:
    """The two id files (line for line the same events) and the records writes are made of."""

    ids: Path
    peer_ids: Path
    events: list[tuple[str, str]]  # (newsgraph id, extractor event.id) by Zipf rank
    weights: list[float]  # cumulative, by rank
    records: dict[str, dict[str, Any]]  # a record of each hot event, by extractor event.id


def zipf_mix(
    workdir: Path, ids: Path, peer_ids: Path, records: Path, draws: int, exponent: float
) -> Mix:
    """Zipf-drawn id files over a seeded permutation of the events, and a record of each of
    the 2,000 hottest events (the writes' material)."""
    ours = ids.read_text("utf-8").split()
    theirs = peer_ids.read_text("utf-8").split()
    events = list(zip(ours, theirs, strict=True))
    random.Random(17).shuffle(events)
    ranks = range(1, len(events) + 1)
    weights = list(itertools.accumulate(1.0 / rank**exponent for rank in ranks))
    drawn = random.Random(18).choices(events, cum_weights=weights, k=draws)
    mix_ids, mix_peer = workdir / "site-cache.ids", workdir / "site-cache.peer-ids"
    mix_ids.write_text("".join(f"{a}\n" for a, _ in drawn), encoding="utf-8")
    mix_peer.write_text("".join(f"{b}\n" for _, b in drawn), encoding="utf-8")
    hot = {b for _, b in events[:2000]}
    found: dict[str, dict[str, Any]] = {}
    with records.open("rb") as lines:
        for line in lines:
            record = json.loads(line)
            key = record.get("event", {}).get("id")
            if key in hot and key not in found:
                found[key] = record
    return Mix(mix_ids, mix_peer, events, weights, found)


SENDERS = 4  # writes in flight at once, per side: a slow answer does not slow the rate
# The write rate of the next round: halfway from this round's to what this round's reads
# asked for. Set to what the reads asked for, a side whose reads slow down with writes swung:
# few writes, many reads, then too many writes for the next round's reads (session 13:
# 20, 51 and 41 writes/s for 0.49, 2.56 and 1.46 writes per 100 reads). Halfway, the rate
# settles where the reads it leaves ask for it. The warm-up with writes is run again (at
# most WARM_TRIES times) until the rate is within WARM_WITHIN of what its reads asked for.
WARM_TRIES = 4
WARM_WITHIN = 0.1


def next_rate(rate: float, wanted: float) -> float:
    return (rate + wanted) / 2


@dataclass
class Writer:
    """Writes to one side at a steady rate while a round runs: `SENDERS` threads take the
    writes in turn as each falls due, so the rate holds however long one write takes to be
    answered (as an extractor sending concurrently)."""

    side: str
    mix: Mix
    send: Any  # (record) -> None, callable from any thread
    rate: float = 0.0
    written: list[tuple[str, str]] = field(default_factory=list)  # (newsgraph id, slug)
    errors: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)  # each write's, to its answer
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _count: itertools.count[int] = field(default_factory=itertools.count)
    _random: random.Random = field(default_factory=lambda: random.Random(19))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _due: int = 0  # writes scheduled in this round so far
    _began: float = 0.0

    def start(self, rate: float) -> None:
        self.rate = rate
        self._stop.clear()
        self._due, self._began = 0, time.perf_counter()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(SENDERS if rate else 0)
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def _next(self) -> tuple[float, str, str, str]:
        """The next write's due time, event and slug: an event drawn again until it is one
        with a record to write (a draw without one takes no slot of the rate)."""
        with self._lock:
            due = self._began + self._due / self.rate
            self._due += 1
            ours, key = self._hot_event()
            while key not in self.mix.records:
                ours, key = self._hot_event()
            slug = f"bench-write-{self.side}-{next(self._count)}"
        return due, ours, key, slug

    def _run(self) -> None:
        while not self._stop.is_set():
            due, ours, key, slug = self._next()
            wait = due - time.perf_counter()
            if wait > 0 and self._stop.wait(wait):
                break
            record = json.loads(json.dumps(self.mix.records[key]))
            record["source_story"]["slug"] = slug
            record["extracted_at"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            sent = time.perf_counter()
            try:
                self.send(record)
            except Exception as exc:  # a failed write is counted, the round goes on
                with self._lock:
                    self.errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            with self._lock:
                self.seconds.append(time.perf_counter() - sent)
                self.written.append((ours, slug))

    def _hot_event(self) -> tuple[str, str]:
        (pair,) = self._random.choices(self.mix.events, cum_weights=self.mix.weights, k=1)
        return pair


def newsgraph_sender(url: str) -> Any:
    """Our writes: an `ingest` of one record, POSTed on a keep-alive connection of the sending
    thread's own. The standard library's client, not httpx: the writes' client runs on the
    machine it measures, and httpx cost 1.5 ms of CPU a write (the peer's writes cost its
    client a line on a pipe); `http.client` about a fifth of that."""
    parts = urlsplit(url)
    local = threading.local()  # a connection a sending thread
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}

    def send(record: dict[str, Any]) -> None:
        body = json.dumps({"query": INGEST, "variables": {"r": [record]}}).encode()
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = HTTPConnection(parts.netloc, timeout=60)
        try:
            connection.request("POST", parts.path, body=body, headers=headers)
            answer = connection.getresponse()
            text = answer.read()
        except (OSError, HTTPException):
            connection.close()  # a new connection for the next write
            local.connection = None
            raise
        done = json.loads(text)
        if answer.status != 200 or "errors" in done:
            raise RuntimeError(text[:300].decode(errors="replace"))
        counts = done["data"]["ingest"]
        if counts["rejected"]:
            raise RuntimeError(f"rejected: {counts}")

    return send


def forget_peer_writes(peer: Peer) -> int:
    """Delete what earlier runs wrote to the peer's database (`PEER_FORGET`); how many stories."""
    done = subprocess.run(
        [str(peer.python), "-c", PEER_FORGET, str(peer.directory)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return int(done.stdout.strip() or 0)


def peer_sender(peer: Peer) -> tuple[Any, list[subprocess.Popen[str]]]:
    """The peer's writes: `SENDERS` writer processes (each parses and merges one record a
    transaction, as its load.py does), each used by one sending thread at a time."""
    processes = [
        subprocess.Popen(
            [str(peer.python), "-c", PEER_WRITER, str(peer.directory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(SENDERS)
    ]
    free: queue.SimpleQueue[subprocess.Popen[str]] = queue.SimpleQueue()
    for process in processes:
        free.put(process)

    def send(record: dict[str, Any]) -> None:
        process = free.get()
        try:
            stdin: IO[str] = process.stdin  # type: ignore[assignment]
            stdout: IO[str] = process.stdout  # type: ignore[assignment]
            stdin.write(json.dumps(record) + "\n")
            stdin.flush()
            if stdout.readline().strip() != "ok":
                raise RuntimeError("the peer's writer failed (see its output)")
        finally:
            free.put(process)

    return send, processes


def stale_pages(url: str, written: Sequence[tuple[str, str]]) -> tuple[int, int]:
    """(checked, stale): the last writes' events read anonymously (through the cache); a page
    not showing its write's story 2 s after the write answered is stale."""
    last = {event: slug for event, slug in written[-30:]}
    stale = 0
    with httpx.Client(timeout=30) as client:
        for event, slug in last.items():
            deadline = time.perf_counter() + 2.0
            while True:
                answer = client.post(url, json={"query": STORIES, "variables": {"id": event}})
                stories = answer.json()["data"]["event"]["extraction"]["stories"]
                if any(s["slug"] == slug for s in stories):
                    break
                if time.perf_counter() > deadline:
                    stale += 1
                    break
                time.sleep(0.05)
    return len(last), stale


CACHE_LINE = re.compile(r'^newsgraph_response_cache_total\{outcome="(\w+)"\} ([\d.e+]+)$', re.M)


def cache_counts(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    counts: dict[str, float] = {}
    for outcome, value in CACHE_LINE.findall(text):
        counts[outcome] = counts.get(outcome, 0.0) + float(value)
    return counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = serving_arguments(__doc__.split("\n\n")[0], "events [100000]")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side [3]")
    parser.add_argument("--requests", type=int, default=10000, help="requests per round [10000]")
    parser.add_argument("--zipf", type=float, default=1.1, help="Zipf exponent [1.1]")
    parser.add_argument("--writes-per-100", type=float, default=1.0, help="writes per 100 reads")
    parser.add_argument(
        "--warmup", type=int, default=None, help="warm-up requests [as many as --requests]"
    )
    args, workers = parse_serving(parser, argv)
    if args.warmup is None:
        args.warmup = args.requests

    peer = Peer(directory=args.peer_dir)
    registry = registry_file(args.peer_dir)
    writers: list[subprocess.Popen[str]] = []
    try:
        peer.setup()
        data = peer_data(args.workdir, args.events, 1, args.peer_dir)
        cached = newsgraph_store(args.workdir, data, registry)
        peer.load(args.workdir, data, registry, False)
        log(f"peer: {forget_peer_writes(peer):,} stories of earlier runs' writes deleted")
        peer_url = peer.serve()
        log(f"peer: PostGraphile at {peer_url}")
        draws = max(args.requests, args.warmup)
        mix = zipf_mix(args.workdir, cached.ids, cached.peer_ids, data.records, draws, args.zipf)
        log(
            f"Zipf {args.zipf}: {len(set(mix.ids.read_text().split())):,} distinct events in "
            f"{draws:,} draws; records of {len(mix.records):,} hot events for writes"
        )
        directory = copy_store(cached.directory, args.workdir / "site-cache-store")
        port = free_port()
        os.environ["NEWSGRAPH_TOKENS"] = f"loader:bench:{TOKEN}"
        command = serve_with_workers(directory, port, args.workers)
        first = mix.ids.read_text("utf-8").split("\n", 1)[0]
        with running(command, port, ("/graphql", page_body(first))) as server:
            url = f"{server.url}/graphql"
            log(f"newsgraph: {' '.join(command[1:])}, answered after {server.ready_after:.1f} s")
            send_peer, peer_writers = peer_sender(peer)
            writers += peer_writers
            sides = {
                "peer": (peer_url, args.peer_dir / "event_page.graphql", mix.peer_ids),
                "newsgraph": (url, PAGE_QUERY_FILE, mix.ids),
            }
            write = {
                "peer": Writer("peer", mix, send_peer),
                "newsgraph": Writer("newsgraph", mix, newsgraph_sender(url)),
            }

            def measure(side: str, requests: int, seed: int, label: str) -> dict[str, Any]:
                target, query, ids = sides[side]
                return latency(
                    peer,
                    target,
                    query,
                    ids,
                    label=label,
                    concurrency=args.concurrency,
                    requests=requests,
                    seed=seed,
                )

            rate: dict[str, float] = {}
            for side in sides:
                warm = measure(side, args.warmup, 1, f"{side} warm-up (no writes)")
                rate[side] = warm["throughput_rps"] * args.writes_per_100 / 100
                # again with writes (their first costs paid), until the rate is the mix's for
                # the reads it leaves (a side whose reads slow down with writes would swing
                # between rounds: the rate set from a round with few writes is too many for
                # the next)
                for tries in range(1, WARM_TRIES + 1):
                    write[side].start(rate[side])
                    label = f"{side} warm-up {tries} ({rate[side]:.1f} writes/s)"
                    warm = measure(side, args.warmup, 1, label)
                    write[side].stop()
                    wanted = warm["throughput_rps"] * args.writes_per_100 / 100
                    settled = abs(wanted - rate[side]) <= WARM_WITHIN * wanted
                    rate[side] = next_rate(rate[side], wanted)
                    if settled:
                        break
            before = cache_counts(server.url)
            rounds: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for k in range(args.rounds):
                order = ["peer", "newsgraph"] if k % 2 == 0 else ["newsgraph", "peer"]
                for side in order:
                    made = len(write[side].written)
                    write[side].start(rate[side])
                    label = f"{side} round {k + 1}/{args.rounds} ({rate[side]:.1f} writes/s)"
                    result = measure(side, args.requests, 2 + k, label)
                    write[side].stop()
                    writes = len(write[side].written) - made
                    result["writes"] = writes
                    result["writes_per_100_reads"] = 100 * writes / result["requests"]
                    took = write[side].seconds[-writes:] if writes else [0.0]
                    result["write_ms_median"] = 1000 * statistics.median(took)
                    log(
                        f"    {writes} writes ({result['writes_per_100_reads']:.2f} per 100 "
                        f"reads), each answered in {result['write_ms_median']:.0f} ms (median), "
                        f"at most {1000 * max(took):.0f} ms"
                    )
                    rounds[side].append(result)
                    wanted = result["throughput_rps"] * args.writes_per_100 / 100
                    rate[side] = next_rate(rate[side], wanted)
            after = cache_counts(server.url)
            time.sleep(0.2)
            checked, stale = stale_pages(url, write["newsgraph"].written)
        errors = {side: w.errors for side, w in write.items()}
        versions = peer.versions()
    finally:
        for process in writers:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=30)
        peer.stop()

    ours, theirs = medians(rounds["newsgraph"]), medians(rounds["peer"])
    hits = after.get("hit", 0) - before.get("hit", 0)
    misses = after.get("miss", 0) - before.get("miss", 0)
    hit_rate = hits / (hits + misses) if hits + misses else 0.0
    ratio = {s: statistics.median(r["writes_per_100_reads"] for r in rounds[s]) for s in rounds}
    # each side wrote what the mix says (the writes paced by the previous round's reads)
    wanted = args.writes_per_100
    faithful = all(abs(r - wanted) <= 0.25 * wanted for r in ratio.values())
    processes = f"{workers} process{'es' if workers > 1 else ''}"
    rows = [
        Row(
            f"event page throughput, cache on, {processes}",
            ours["throughput_rps"],
            "req/s",
            theirs["throughput_rps"],
            "PostgreSQL + PostGraphile",
            "≥ 3x peer, each side within 25% of its writes per 100 reads",
            ours["throughput_rps"] >= 3 * theirs["throughput_rps"] and faithful,
        ),
        Row("event page p50", ours["p50_ms"], "ms", theirs["p50_ms"], "PostGraphile", "-", None),
        Row(
            "event page p99",
            ours["p99_ms"],
            "ms",
            theirs["p99_ms"],
            "PostgreSQL + PostGraphile",
            "≤ peer's",
            ours["p99_ms"] <= theirs["p99_ms"],
        ),
        Row("response cache hit rate", 100 * hit_rate, "%", None, "", "-", None),
        Row(
            "writes per 100 reads",
            ratio["newsgraph"],
            "",
            ratio["peer"],
            "the peer's",
            f"≈ {args.writes_per_100} (±25%)",
            faithful,
        ),
        Row(f"stale pages of {checked} written", stale, "", None, "", "0", stale == 0),
    ]
    print_table(
        f"Event page with the response cache against PostgreSQL + PostGraphile: "
        f"{cached.meta['events_mapped']:,} events, Zipf {args.zipf}, {args.writes_per_100:g} "
        f"write per 100 reads, {args.concurrency} clients, latency.py --client raw, median of "
        f"{args.rounds} x {args.requests:,} requests",
        rows,
    )
    for side, failed in errors.items():
        if failed:
            print(f"{side}: {len(failed)} writes failed; first: {failed[0]}")
    save_results(
        args.workdir,
        "site-cache",
        {
            "events": args.events,
            "workers": workers,
            "concurrency": args.concurrency,
            "zipf": args.zipf,
            "writes_per_100": args.writes_per_100,
            "rounds": args.rounds,
            "requests_per_round": args.requests,
            "peer_versions": versions,
            "newsgraph": ours,
            "peer": theirs,
            "hit_rate": hit_rate,
            "cache_counts": {k: after.get(k, 0) - before.get(k, 0) for k in after},
            "stale": stale,
            "checked": checked,
            "write_errors": {s: len(e) for s, e in errors.items()},
            "newsgraph_rounds": rounds["newsgraph"],
            "peer_rounds": rounds["peer"],
        },
    )


if __name__ == "__main__":
    run_main(main)

"""A hot page made again after a write: with kept fragments (`api.memo`) against made whole.

    python -m bench.page_remade [--events 100000] [--pages 3] [--writes 100]

The store and the Zipf mix of `bench.site_cache` (built once under WORKDIR and reused), a copy
opened in this process with two apps on it, the response cache off in both: one keeps
fragments (the default), the baseline keeps none (`kept_fragments=0`). For each of the
`--pages` events the mix asks most, `--writes` times: an `ingest` of a new story about it (as
the bench's writes are, so the page grows as a hot page does over a `bench.site_cache` run: by
hundreds of reports), then its event page asked of each app, in turns (which goes first
alternates: the store's decoded properties are shared), the CPU of each answer measured
(`time.thread_time`), the two answers checked equal. Prints, per page, its reports after the
writes and the median milliseconds either way, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python bench/page_remade.py
    sys.path.insert(0, str(Path(__file__).absolute().parents[1]))

from api.app import create_app
from api.config import AppConfig
from api.tokens import Tokens
from bench.common import DEFAULT_WORKDIR, Row, copy_store, log, page_body, print_table
from bench.serving import PEER_DIR, newsgraph_store, peer_data, registry_file, run_main
from bench.site_cache import INGEST, zipf_mix
from graph.embedded import EmbeddedStore

TOKEN = "page-remade-bench-token-0123456789abcdef"


def _scope(body: bytes, token: str | None) -> dict[str, Any]:
    headers = [
        (b"content-type", b"application/json"),
        (b"accept", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"host", b"localhost"),
    ]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5),
        "server": None,
        "state": {},
    }


async def _post(app: Any, body: bytes, token: str | None = None) -> bytes:
    """The app's answer to a POST of `body` to /graphql, called in this process."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    out: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await app(_scope(body, token), receive, send)
    if out[0]["status"] != 200:
        raise SystemExit(f"answered {out[0]['status']}: {out[1:]}")
    return b"".join(m.get("body", b"") for m in out[1:])


async def _measure(
    kept: Any, whole: Any, mix: Any, pages: int, writes: int
) -> list[tuple[str, int, float, float]]:
    found: list[tuple[str, int, float, float]] = []
    hot = [(ours, key) for ours, key in mix.events if key in mix.records][:pages]
    count = 0
    for ours, key in hot:
        page = json.dumps(page_body(ours)).encode()
        times: dict[str, list[float]] = {"kept": [], "whole": []}
        answer = b""
        for turn in range(writes):
            record = json.loads(json.dumps(mix.records[key]))
            record["source_story"]["slug"] = f"page-remade-{count}"
            count += 1
            ingest = {"query": INGEST, "variables": {"r": [record]}}
            done = json.loads(await _post(kept, json.dumps(ingest).encode(), TOKEN))
            if "errors" in done:
                raise SystemExit(f"the write failed: {done['errors']}")
            order = [("kept", kept), ("whole", whole)]
            answers: dict[str, bytes] = {}
            for name, app in order if turn % 2 == 0 else order[::-1]:
                began = time.thread_time()
                answers[name] = await _post(app, page)
                times[name].append(1000 * (time.thread_time() - began))
            if answers["kept"] != answers["whole"]:
                raise SystemExit(f"the two apps answered {ours} differently")
            answer = answers["kept"]
        reports = len(json.loads(answer)["data"]["event"]["reports"])
        found.append(
            (ours, reports, statistics.median(times["whole"]), statistics.median(times["kept"]))
        )
        log(f"  {ours}: {reports} reports, {found[-1][2]:.2f} ms whole, {found[-1][3]:.2f} kept")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--events", type=int, default=100_000, help="events [100000]")
    parser.add_argument("--pages", type=int, default=3, help="hottest pages measured [3]")
    parser.add_argument("--writes", type=int, default=100, help="writes to each page [100]")
    parser.add_argument("--peer-dir", type=Path, default=PEER_DIR)
    args = parser.parse_args(argv)

    data = peer_data(args.workdir, args.events, 1, args.peer_dir)
    cached = newsgraph_store(args.workdir, data, registry_file(args.peer_dir))
    mix = zipf_mix(args.workdir, cached.ids, cached.peer_ids, data.records, 10_000, 1.1)
    directory = copy_store(cached.directory, args.workdir / "page-remade-store")

    store = EmbeddedStore(directory)
    store.setup()
    try:
        tokens = Tokens.configured(f"loader:bench:{TOKEN}")
        kept = create_app(store, tokens, AppConfig(response_cache_bytes=0))
        whole = create_app(store, tokens, AppConfig(response_cache_bytes=0, kept_fragments=0))
        found = asyncio.run(_measure(kept, whole, mix, args.pages, args.writes))
    finally:
        store.close()
    rows = [
        Row(
            f"event page made again, rank {rank + 1} ({reports} reports)",
            kept_ms,
            "ms",
            whole_ms,
            "made whole (kept_fragments=0)",
            "-",
            None,
        )
        for rank, (_, reports, whole_ms, kept_ms) in enumerate(found)
    ]
    print_table(
        f"A hot page made again after a write, in process ({args.events:,} events, "
        f"{args.writes} writes each)",
        rows,
    )


if __name__ == "__main__":
    run_main(main)

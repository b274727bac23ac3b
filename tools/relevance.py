"""The search relevance set (`bench/search_relevance.jsonl`) and its score: how many of its
queries put the intended result in the top 3. Shared by the scorer command
(`bench/search_relevance.py`) and its test (`tests/test_search_relevance.py`).

The set is written over the bundled sample data (`loaders/sample_data`) and the records
`bench.generate` makes with `EVENTS` events and seed `SEED`; its generated names (Petra
Velani, Irina Shataan, ...) are that world's. A case expects a node of a type with a name (its
name or any alias) or an event whose summary and claims contain every given text.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

from graph.model import Label
from graph.search import IndexedDoc, find
from graph.store import GraphStore

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "bench" / "search_relevance.jsonl"
SAMPLES = ROOT / "loaders" / "sample_data"
EVENTS = 300
SEED = 1
TOP = 3
TARGET = 45  # of the 50 queries


@dataclass(frozen=True, slots=True)
class Case:
    query: str
    kind: str
    expect: dict[str, Any]

    def wanted(self, doc: IndexedDoc) -> bool:
        if doc.label.value != self.expect["type"]:
            return False
        if "name" in self.expect:
            return self.expect["name"] in doc.names
        text = " ".join(doc.body).casefold()
        return all(part.casefold() in text for part in self.expect["contains"])


@dataclass(frozen=True, slots=True)
class Outcome:
    case: Case
    rank: int | None  # 1-based place of the first wanted result in the top 10, None if absent
    top: list[str]  # what came first, for the report

    @property
    def hit(self) -> bool:
        return self.rank is not None and self.rank <= TOP


def cases(path: Path = CASES) -> list[Case]:
    lines = path.read_text("utf-8").splitlines()
    return [Case(**json.loads(line)) for line in lines if line.strip()]


def load(store: GraphStore, events: int = EVENTS, seed: int = SEED) -> None:
    """The bundled samples and `events` generated events (and their registries) into `store`."""
    from bench.generate import write
    from loaders.jsonl import RejectSink
    from loaders.outlets import parse_registry
    from services.load import load_streams
    from services.registry import load_registry

    def records(name: str, data: bytes) -> None:
        stream = cast(BinaryIO, io.BytesIO(data))
        load_streams(store, [(name, stream)], RejectSink(None))

    load_registry(store, parse_registry((SAMPLES / "outlets.json").read_text("utf-8")))
    records("samples.jsonl", (SAMPLES / "samples.jsonl").read_bytes())
    text = io.StringIO()
    with tempfile.TemporaryDirectory() as folder:
        registry = Path(folder) / "outlets.json"
        write(events, seed, text, registry)
        load_registry(store, parse_registry(registry.read_text("utf-8")))
    records("generated.jsonl", text.getvalue().encode())


def score(store: GraphStore, chosen: list[Case] | None = None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for case in chosen if chosen is not None else cases():
        found = find(store, case.query, (Label.EVENT, Label.ENTITY, Label.PLACE, Label.OUTLET), 10)
        rank = next((i + 1 for i, doc in enumerate(found) if case.wanted(doc)), None)
        top = [f"{d.label.value}:{(d.names or d.body or ('',))[0][:40]}" for d in found[:TOP]]
        outcomes.append(Outcome(case, rank, top))
    return outcomes

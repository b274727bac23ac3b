"""Extractor records (version 1) rebuilt from the graph: the inverse of ingest, so that
`newsgraph load` turns them back into the same events, stories, reports, involvements and
locations, with the same ids. What survives the round trip is in docs/analytics.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from graph import keys
from graph.analytics import chunks
from graph.model import LAST_RANK, RETRACTED_ON, Edge, Label, Node, Rel, Value, strings
from graph.snapshot import INGEST_CLOCKS
from graph.store import GraphStore
from services.mentions import mention_from_json, mention_texts
from services.selection import Selection

# What a JSONL round trip cannot give back: the ingest clock (when this graph ingested it).
# Every other property (merge ranks included: they are built from the extraction time, the
# story and the summary, all kept), node, relationship and identity key comes back the same.
ROUND_TRIP_IGNORES = INGEST_CLOCKS


@dataclass
class RecordsSummary:
    records: int = 0
    events: int = 0
    out_of_order: int = 0  # records no order could place so that ids come back the same
    skipped: list[str] = field(default_factory=list)  # events that cannot be rebuilt, and why


@dataclass
class _Draft:
    """One record to write: its JSON, what it names, and what decides its place in the file."""

    sort_key: tuple[str, str, str]
    event: str
    event_key: str | None  # the record's first fingerprint, for events without an id
    data: dict[str, Any]
    mentions: list[tuple[str, str]]  # (entity id, name) in the order written
    outlets: list[tuple[str, dict[str, Any], str]]  # (outlet id, the dict naming it, field)
    places: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # likewise


def write_records(store: GraphStore, chosen: Selection, out: IO[bytes]) -> RecordsSummary:
    """Extractor records (version 1) that `newsgraph load` turns back into `chosen`'s events,
    one line each. See docs/analytics.md for what survives the round trip."""
    summary = RecordsSummary()
    for line in records(store, chosen, summary):
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        out.write(b"\n")
    return summary


def records(
    store: GraphStore, chosen: Selection, summary: RecordsSummary | None = None
) -> list[dict[str, Any]]:
    """The records rebuilding `chosen`'s events, in an order that gives back the same ids."""
    summary = summary if summary is not None else RecordsSummary()
    builder = _Builder(store, chosen)
    drafts: list[_Draft] = []
    events = sorted(i for i, n in chosen.nodes.items() if n.label is Label.EVENT)
    for event_id in events:
        built = builder.event_records(event_id)
        if isinstance(built, str):
            summary.skipped.append(f"{event_id}: {built}")
        else:
            drafts += built
            summary.events += 1
    ordered, summary.out_of_order = builder.order(drafts)
    builder.spell_outlets(ordered)
    builder.spell_places(drafts)
    summary.records = len(ordered)
    return [d.data for d in ordered]


def _is_participant(role: str) -> bool:
    return role.casefold() == "participant"


class _Builder:
    """Rebuilds records from the relationships of their events."""

    def __init__(self, store: GraphStore, chosen: Selection) -> None:
        self.store = store
        self.nodes = chosen.nodes
        self.incoming: dict[tuple[Rel, str], list[Edge]] = defaultdict(list)
        self.outgoing: dict[tuple[Rel, str], list[Edge]] = defaultdict(list)
        for ident in sorted(chosen.edges):
            edge = chosen.edges[ident]
            self.incoming[(edge.type, edge.dst)].append(edge)
            self.outgoing[(edge.type, edge.src)].append(edge)
        self.owned = self._owned_aliases()
        self.creating = self._creating_names()

    def _owned_aliases(self) -> dict[str, list[str]]:
        """Each entity's aliases whose identity key it owns (the spellings that find it)."""
        wanted: dict[str, tuple[str, str]] = {}
        for node in self.nodes.values():
            if node.label is Label.ENTITY:
                for alias in node.texts("aliases"):
                    for key in keys.entity_keys(node.text("type"), [alias]):
                        wanted[key] = (node.id, alias)
        owners: dict[str, str] = {}
        for batch in chunks(sorted(wanted), 1000):
            owners.update(self.store.lookup_keys(batch))
        owned: dict[str, list[str]] = defaultdict(list)
        for key, (entity, alias) in sorted(wanted.items()):
            if owners.get(key) == entity:
                owned[entity].append(alias)
        return {e: sorted(set(a)) for e, a in owned.items()}

    def _creating_names(self) -> dict[str, str]:
        """The spelling whose identity key gave each entity its id, where one did."""
        found: dict[str, str] = {}
        for entity, aliases in self.owned.items():
            kind = self.nodes[entity].text("type")
            for alias in aliases:
                if keys.node_id("en", keys.entity_keys(kind, [alias])[0]) == entity:
                    found[entity] = alias
                    break
        return found

    # -- one event -------------------------------------------------------------------------

    def event_records(self, event_id: str) -> list[_Draft] | str:
        event = self.nodes[event_id]
        describes = self.incoming[(Rel.DESCRIBES, event_id)]
        if not describes:
            return "no story describes it"
        external = event.texts("external_ids")
        versions: list[tuple[str, Node, list[Edge], str, dict[str, Value]]] = []
        for edge in describes:
            story = self.nodes.get(edge.src)
            if story is None:
                return f"its story {edge.src} is not exported"
            reports = sorted(
                (e for e in self.incoming[(Rel.REPORTS, event_id)] if e.discriminator == story.id),
                key=lambda e: (_int(e.props.get("position")), e.src),
            )
            if not reports:
                return f"no report through story {story.id}"
            last = str(edge.props.get("last_extracted_at") or event.text("last_extracted_at"))
            first = str(edge.props.get("first_extracted_at") or last)
            content = {k: edge.props.get(k) for k in ("category", "summary", "occurred_on")}
            versions.append((str(edge.props.get(LAST_RANK) or last), story, reports, last, content))
            if first < last:
                # An earlier extraction of the same story: its claims were replaced, but its
                # time is kept; when it was the event's first, it said what the event says.
                earlier = content
                if event.text("first_extracted_at") == first:
                    earlier = {k: event.props.get(k) for k in content}
                versions.append((first + "|", story, reports, first, earlier))
        covered: set[str] = set()  # the event's fingerprints that records written so far give
        drafts = [
            self._draft(event, external, story, reports, extracted, said, rank, covered)
            for rank, story, reports, extracted, said in sorted(versions, key=lambda v: v[0])
        ]
        said_by = {e.src: mention_texts(e) for e in describes}
        for draft in drafts:
            texts = said_by.get(draft.sort_key[1])
            if texts:  # placed by the matcher: write the record as its mention keeps it
                self._as_mentioned(event_id, draft, texts)
        return drafts

    def _draft(
        self,
        event: Node,
        external: list[str],
        story: Node,
        reports: list[Edge],
        extracted: str,
        said: dict[str, Value],
        rank: str,
        covered: set[str],
    ) -> _Draft:
        published = next(
            (
                str(e.props["story_published_on"])
                for e in reports
                if e.props.get("story_published_on")
            ),
            story.text("published_on") or None,
        )
        publisher = self.outgoing_of_story(story.id)
        source: dict[str, Any] = {"slug": story.text("slug"), "outlet": ""}
        if story.text("url"):
            source["url"] = story.text("url")
        if published:
            source["published_on"] = published
        body: dict[str, Any] = {}
        if external:
            body["id"] = external[0]
        body["category"] = said.get("category") or event.text("category")
        body["summary"] = said.get("summary") or event.text("summary")
        body["occurred_on"] = said.get("occurred_on") or event.text("occurred_on")
        location = self._location(event, story.id)
        if location:
            body["location"] = location
        entities, mentions, participants = self._entities(
            event, story.id, not external, body, covered
        )
        body["entities"] = entities
        outlets: list[tuple[str, dict[str, Any], str]] = [(publisher, source, "outlet")]
        written = []
        for report in _with_pooled(reports):
            entry: dict[str, Any] = {"outlet": ""}
            if report is None:  # a report pooled into an earlier one of the same outlet
                written.append({"outlet": "", "claims": []})
                outlets.append((reports[0].src, written[-1], "outlet"))
                continue
            if report.props.get("url"):
                entry["url"] = report.props["url"]
            texts, tones = (
                strings(report.props, "claim_texts"),
                strings(report.props, "claim_tones"),
            )
            entry["claims"] = [{"text": t, "tone": v} for t, v in zip(texts, tones, strict=True)]
            withdrawn = _retraction(report)
            if withdrawn is not None:
                entry["retracted"] = withdrawn
            written.append(entry)
            outlets.append((report.src, entry, "outlet"))
        body["reports"] = written
        data = {
            "schema_version": 1,
            "extracted_at": extracted,
            "source_story": source,
            "event": body,
        }
        event_key = None if external else _first_fingerprint(body, participants)
        draft = _Draft((rank, story.id, event.id), event.id, event_key, data, mentions, outlets)
        draft.places = self._named_places
        return draft

    def _as_mentioned(self, event_id: str, draft: _Draft, texts: list[str]) -> None:
        """The record as the mention of its extraction keeps it (what the matcher read: its
        words, day, point and entities as said, with their roles), so that a reload finds the
        same record key, hence the same event id, and the same profile. Without `event.id`."""
        extracted = draft.data["extracted_at"]
        chosen = sorted(texts)[0]
        for text in sorted(texts):
            if json.loads(text).get("extracted_at") == extracted:
                chosen = text
                break
        data = json.loads(chosen)
        mention = mention_from_json(chosen)
        body = draft.data["event"]
        body["summary"], body["category"] = mention.summary, mention.category
        occurred = data.get("occurred_on")
        if isinstance(occurred, str):
            body["occurred_on"] = occurred
        elif str(body.get("occurred_on"))[:10] != mention.day:
            body["occurred_on"] = mention.day
        location = body.setdefault("location", {})
        if location.get("place") or location.get("country"):
            # the place as this record spelt it (the graph's first spelling is another's)
            for name in ("place", "country"):
                value = getattr(mention, name)
                if value:
                    location[name] = value
            draft.places = []
        for name in ("lat", "lon"):
            value = getattr(mention, name)
            if value is None:
                location.pop(name, None)
            else:
                location[name] = value
        if not location:
            del body["location"]
        latest = max(str(json.loads(t).get("extracted_at") or "") for t in texts)
        if extracted < latest and mention.claims:
            # an earlier extraction: its claims were replaced in the graph, its mention kept them
            reports = body.get("reports") or []
            for number, report in enumerate(reports):
                report["claims"] = (
                    [{"text": t, "tone": "certain"} for t in mention.claims] if number == 0 else []
                )
        story = draft.sort_key[1]
        involved = [
            e
            for e in self.outgoing[(Rel.INVOLVES, event_id)]
            if story in strings(e.props, "stories") and e.dst in self.nodes
        ]
        entities: list[dict[str, Any]] = []
        named: list[tuple[str, str]] = []
        for row in data.get("entities") or []:
            name, kind, aliases = str(row[0]), str(row[1]), [str(a) for a in row[2]]
            entity = next(
                (
                    e.dst
                    for e in involved
                    if name in strings(e.props, "names") and self.nodes[e.dst].text("type") == kind
                ),
                None,
            )
            said: dict[str, Any] = {"name": name, "type": kind}
            if aliases:
                said["aliases"] = aliases
            if len(row) > 3 and row[3]:
                said["role"] = row[3]
            if entity is None and extracted < latest:
                # an earlier extraction naming what its story's latest no longer names (gone
                # from the graph: services.replacement): written as said, the reload drops it
                entities.append(said)
                continue
            if entity is None:  # not as stored (an editor moved it): as the graph says
                return
            entities.append(said)
            named.append((entity, name))
        body["entities"] = entities
        draft.mentions = named
        draft.event_key = keys.event_record_key(mention.record_key())

    def outgoing_of_story(self, story_id: str) -> str:
        published = self.incoming[(Rel.PUBLISHED, story_id)]
        return published[0].src if published else ""

    def _location(self, event: Node, story_id: str) -> dict[str, Any]:
        location: dict[str, Any] = {}
        self._named_places: list[tuple[str, dict[str, Any], str]] = []
        for edge in sorted(
            self.outgoing[(Rel.OCCURRED_IN, event.id)],
            key=lambda e: (str(e.props.get("first_reported")), e.dst),
        ):
            if story_id not in strings(edge.props, "stories"):
                continue
            place = self.nodes.get(edge.dst)
            if place is None:
                continue
            if place.text("kind") == "country":
                location["country"] = place.text("name")
                self._named_places.append((place.id, location, "country"))
            else:
                location["place"] = place.text("name")
                self._named_places.append((place.id, location, "place"))
                countries = self.outgoing[(Rel.IN_COUNTRY, place.id)]
                country = self.nodes.get(countries[0].dst) if countries else None
                if country is not None:
                    location["country"] = country.text("name")
                    self._named_places.append((country.id, location, "country"))
            break
        for coordinate in ("lat", "lon"):
            value = event.props.get(coordinate)
            if isinstance(value, int | float):
                location[coordinate] = value
        return location

    def _entities(
        self,
        event: Node,
        story_id: str,
        fingerprinted: bool,
        body: dict[str, Any],
        covered: set[str],
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]], list[str]]:
        """The entity mentions of one record: every spelling the event saw of each entity the
        story named (its display name first), with its roles and owned aliases."""
        involved = [
            e
            for e in self.outgoing[(Rel.INVOLVES, event.id)]
            if story_id in strings(e.props, "stories") and e.dst in self.nodes
        ]
        mentions: list[dict[str, Any]] = []
        named: list[tuple[str, str]] = []
        participants: list[str] = []
        for edge in involved:
            entity = self.nodes[edge.dst]
            roles = strings(edge.props, "roles")
            names = strings(edge.props, "names") or [entity.text("name")]
            display = entity.text("name")
            names = sorted(names, key=lambda n: (n != display, n))
            is_participant = any(_is_participant(r) for r in roles)
            if is_participant:
                participants.append(entity.id)
            spread: list[str | None] = list(roles) or [None]
            count = max(len(names), len(spread))
            for i in range(count):
                name = names[i] if i < len(names) else names[0]
                role = spread[i] if i < len(spread) else spread[0]
                mention: dict[str, Any] = {"name": name, "type": entity.text("type")}
                aliases = [a for a in self.owned.get(entity.id, []) if a != name]
                if aliases:
                    mention["aliases"] = aliases
                if role is not None:
                    mention["role"] = role
                mentions.append(mention)
                named.append((entity.id, name))
        if fingerprinted:
            participants = self._participants_of(event, body, involved, participants, covered)
            # participant status was decided per record: roles follow it
            for mention, (entity_id, _) in zip(mentions, named, strict=True):
                role = mention.get("role")
                if entity_id not in participants and role is not None and _is_participant(role):
                    others = [
                        r
                        for e in involved
                        if e.dst == entity_id
                        for r in strings(e.props, "roles")
                        if not _is_participant(r)
                    ]
                    mention["role"] = others[0] if others else "mentioned"
        return mentions, named, participants

    def _participants_of(
        self,
        event: Node,
        body: dict[str, Any],
        involved: list[Edge],
        candidates: list[str],
        covered: set[str],
    ) -> list[str]:
        """Which entities were participants in this record. The event's roles are a union over
        its records, so an entity that was a participant in some records and not in others
        makes several fingerprints possible. Each record takes one the event owns, those not
        yet given by an earlier record first, the one that made the event's id first of all:
        together the records give back every fingerprint, and the first one the id."""
        ambiguous = [
            e.dst
            for e in involved
            if e.dst in candidates
            and any(not _is_participant(r) for r in strings(e.props, "roles"))
        ]
        if not ambiguous or len(ambiguous) > 8:
            return candidates
        certain = [c for c in candidates if c not in ambiguous]
        options: dict[str, list[str]] = {}
        for mask in range(2 ** len(ambiguous) - 1, -1, -1):
            option = certain + [a for i, a in enumerate(ambiguous) if mask >> i & 1]
            options.setdefault(_first_fingerprint(body, option), option)
        owners = self.store.lookup_keys(sorted(options))
        owned = [k for k in options if owners.get(k) == event.id]
        if not owned:
            return candidates
        chosen = min(
            owned, key=lambda k: (k in covered, keys.node_id("ev", k) != event.id, owned.index(k))
        )
        covered.add(chosen)
        return options[chosen]

    # -- the whole file --------------------------------------------------------------------

    def order(self, drafts: list[_Draft]) -> tuple[list[_Draft], int]:
        """The drafts in rank order (earliest extraction first), except that a record waits
        until the entities and event it names exist, when writing it earlier would create them
        under another id (a spelling or fingerprint other than the one that made the id)."""
        pending = sorted(drafts, key=lambda d: d.sort_key)
        created: set[str] = set()
        waiting: dict[str, list[_Draft]] = defaultdict(list)
        ordered: list[_Draft] = []

        first_of: dict[str, tuple[str, str, str]] = {}  # each entity's first-ranked record
        for draft in pending:
            for entity, _ in draft.mentions:
                first_of.setdefault(entity, draft.sort_key)

        def makes(entity: str, name: str) -> bool:
            kind = self.nodes[entity].text("type")
            return keys.node_id("en", keys.entity_keys(kind, [name])[0]) == entity

        def blocker(draft: _Draft) -> str | None:
            made: set[str] = set()
            for entity, name in draft.mentions:
                if entity in created or entity in made:
                    continue
                made.add(entity)
                if makes(entity, name):
                    continue  # this mention makes it; later ones find it
                # Another spelling in this record makes it: write that one first, unless
                # this is the record whose first spelling is the entity's name.
                maker = self.creating.get(entity)
                naming = first_of[entity] == draft.sort_key
                if maker is None or (naming and maker != self.nodes[entity].text("name")):
                    return entity
                if not _put_first(draft, entity, maker):
                    return entity
            key = draft.event_key
            if draft.event in created or key is None or keys.node_id("ev", key) == draft.event:
                return None
            return draft.event

        def emit(draft: _Draft) -> None:
            queue = [draft]
            while queue:
                current = queue.pop(0)
                stop = blocker(current)
                if stop is not None:
                    waiting[stop].append(current)
                    continue
                ordered.append(current)
                made = {e for e, _ in current.mentions} | {current.event}
                for node in sorted(made - created):
                    queue += waiting.pop(node, [])
                created.update(made)

        for draft in pending:
            emit(draft)
        stuck = sorted((d for ds in waiting.values() for d in ds), key=lambda d: d.sort_key)
        ordered += stuck
        return ordered, len(stuck)

    def spell_outlets(self, ordered: list[_Draft]) -> None:
        """Name each outlet as the graph does on its first mention in the file (an outlet's
        name is the first spelling seen) and use its other spellings on later mentions, or as
        extra claim-less reports (which pool into the same report) when too few are left."""
        seen: dict[str, int] = defaultdict(int)
        spellings: dict[str, list[str]] = {}
        last_report: dict[str, dict[str, Any]] = {}
        for draft in ordered:
            for outlet, holder, name_field in draft.outlets:
                node = self.nodes.get(outlet)
                if node is None:
                    holder[name_field] = outlet
                    continue
                if outlet not in spellings:
                    spellings[outlet] = _outlet_spellings(node)
                options = spellings[outlet]
                index = seen[outlet]
                holder[name_field] = options[index] if index < len(options) else options[0]
                seen[outlet] += 1
                if holder is not draft.data["source_story"]:
                    last_report[outlet] = draft.data
        for outlet, options in sorted(spellings.items()):
            data = last_report.get(outlet)
            if data is None:
                continue
            for spelling in options[seen[outlet] :]:
                data["event"]["reports"].append({"outlet": spelling, "claims": []})

    def spell_places(self, drafts: list[_Draft]) -> None:
        """Name each place and country as the graph does in the earliest-ranked record that
        gives it (a place's name is the first-ranked spelling), and use its other spellings
        (those that normalise alike) in later records, as far as there are records."""
        seen: dict[str, int] = defaultdict(int)
        for draft in sorted(drafts, key=lambda d: d.sort_key):
            for place, holder, name_field in draft.places:
                node = self.nodes[place]
                name = node.text("name")
                others = sorted(
                    a
                    for a in node.texts("aliases")
                    if a != name and keys.normalise(a) == keys.normalise(name)
                )
                options = [name, *others]
                index = seen[place]
                holder[name_field] = options[index] if index < len(options) else name
                seen[place] += 1


def _put_first(draft: _Draft, entity: str, name: str) -> bool:
    """Move the record's mention of `entity` spelled `name` before its other mentions of it."""
    spots = [i for i, (e, _) in enumerate(draft.mentions) if e == entity]
    found = [i for i in spots if draft.mentions[i][1] == name]
    if not found:
        return False
    first, chosen = spots[0], found[0]
    mentions = draft.data["event"]["entities"]
    mentions[first], mentions[chosen] = mentions[chosen], mentions[first]
    draft.mentions[first], draft.mentions[chosen] = draft.mentions[chosen], draft.mentions[first]
    return True


def _outlet_spellings(node: Node) -> list[str]:
    """The outlet's name, then its other spellings that normalise alike (so any of them finds
    the same outlet, registry or not)."""
    name = node.text("name")
    key = keys.outlet_keys([name])[0]
    others = sorted(
        a for a in node.texts("aliases") if a != name and keys.outlet_keys([a])[0] == key
    )
    return [name, *others]


def _retraction(report: Edge) -> dict[str, str] | None:
    """The record's `retracted` of a report the extractor said was retracted. An editor's
    retraction is the editorial log's (`newsgraph copy` carries it), not the records'."""
    day = report.props.get(RETRACTED_ON)
    if not isinstance(day, str) or "extractor" not in report.texts("retracted_by"):
        return None
    said = {"on": day}
    reasons = report.texts("retraction_reasons")
    if reasons:
        said["reason"] = reasons[0]
    return said


def _with_pooled(reports: list[Edge]) -> list[Edge | None]:
    """The reports in record order, with None where the record listed an outlet a second time
    (its claims pooled into its first report, which keeps the first position)."""
    at = {_int(r.props.get("position")): r for r in reports}
    last = max(at, default=-1)
    if len(at) != len(reports) or last >= 4 * len(reports) + 100:
        return list(reports)
    return [at.get(i) for i in range(last + 1)]


def _first_fingerprint(body: dict[str, Any], participants: Sequence[str]) -> str:
    day = str(body["occurred_on"])[:10]
    category = str(body["category"])
    if participants:
        return keys.event_participants_key(day, category, participants)
    return keys.event_summary_key(day, category, str(body["summary"]))


def _int(value: Value) -> int:
    return value if isinstance(value, int) else 0

"""Editorial work on the graph: submitted sources and their review, the outlet registry, the
confidence policy; merging and splitting entities is `services.entity_editing`, events
`services.event_editing`.

Every operation is one atomic write (the policy's re-rating aside: see `set_policy`) that
checks, inside its transaction, that what it read still holds, and logs itself as an `Edit`
node (who, when, what). Changes of confidence are written to each event's history by the
rating step (`services.rating.rating`) and collected in `Editorial.changes` for live updates.
Access control is the API's business (`api.auth`): this module trusts its caller's `by`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from graph import keys
from graph.confidence import Policy, current_policy
from graph.history import LevelChange, Why, edit
from graph.model import (
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Rel,
    Tier,
    Tone,
    Value,
    WriteBatch,
    timestamp,
)
from graph.store import GraphReader, WriteConflict
from loaders.records import Name, Record, describe, validate
from services.conflicts import checked, resolving_again
from services.editing import EditorialError, EditorialWork
from services.entity_editing import EntityEditing
from services.ingest import Ingestor
from services.merging import merge_nodes
from services.policy import PolicySteps
from services.rating import rating


class SubmissionInput(BaseModel):
    """What a reader submits; field names are the GraphQL argument names, so errors name
    them."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: Annotated[HttpUrl, Field(max_length=2000)]
    outlet_name: Annotated[Name, Field(alias="outletName")]
    claim: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    tone: Tone | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class OutletChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: Tier | None = None
    group: Annotated[str, Field(max_length=200)] | None = None
    aliases: Annotated[list[Name], Field(max_length=100)] | None = None


@dataclass(frozen=True, slots=True)
class Review:
    """What an approval did: the submission as it is now, and the duplicate it found, if any."""

    submission: Node
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class SubmissionLimits:
    """How many submissions may wait for review, for one event and from one client, and how
    long one waits before it expires. Expiry is applied when submissions are read: an expired
    one is no longer listed, counted or reviewable; each new submission then removes up to
    `sweep` expired ones from the store (`Editorial.sweep_expired`)."""

    per_event: int = 50
    per_client: int = 10
    ttl: timedelta = timedelta(days=30)
    sweep: int = 20
    # At most `rate` submissions from one client in any `rate_window` (None: no rate),
    # counted in the store (`GraphStore.hit`), so one count holds for every process writing to
    # it; `rate_text` is the setting as written, for the refusal.
    rate: int | None = None
    rate_window: timedelta = timedelta(minutes=1)
    rate_text: str = ""


# The rate's key in the store (`GraphStore.hit`), before the client's hash.
RATE_KEY = "submit:"


def normalise_url(url: str) -> str:
    """A URL as compared for duplicates: scheme and host lower-cased, fragment and trailing
    slash dropped."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


@dataclass
class Editorial(EditorialWork):
    """Editorial operations on `store`, each by `by` (an editor's or admin's name)."""

    limits: SubmissionLimits = field(default_factory=SubmissionLimits)

    # -- submissions -------------------------------------------------------------------------

    def submit(
        self, event_id: str, given: dict[str, Any], by: str, client: str | None = None
    ) -> Node:
        """A reader's submission of a source for `event_id`: validated, stored as pending.
        It changes nothing about the event until an editor approves it. `client` (the rate
        limiter's key) is kept only as a hash, to count the client's pending submissions;
        past `limits` for the event or the client (pending, or its rate) it is refused."""
        try:
            value = SubmissionInput.model_validate(given)
        except ValidationError as exc:
            raise EditorialError(describe(exc)) from None
        self._expect(event_id, Label.EVENT, "eventId")
        at = self._stamp()
        cutoff = self._cutoff()
        source = _client_hash(client) if client is not None else None
        if source is not None:
            cap = self.limits.per_client
            where = {"status": "pending", "submitted_from": source}
            waiting = self.store.find_nodes(
                Label.SUBMISSION, where, "submitted_at", cap, (cutoff, "")
            )
            if len(waiting) >= cap:
                raise EditorialError(
                    f"this client has {cap} submissions waiting for review already, the most "
                    "one client may have; try again once editors have reviewed them"
                )
            rate = self.limits.rate
            window = self.limits.rate_window
            if rate is not None and not self.store.hit(RATE_KEY + source, self.now(), window, rate):
                text = self.limits.rate_text or f"{rate} in {window}"
                raise EditorialError(
                    f"too many submissions from this client (at most {text}); try again later"
                )
        submission_id = keys.node_id("su", f"{event_id}|{value.url}|{at}|{uuid.uuid4()}")
        props: dict[str, Value] = {
            "status": "pending",
            "url": str(value.url),
            "outlet_name": value.outlet_name,
            "claim": value.claim,
            "tone": value.tone,
            "note": value.note,
            "submitted_at": at,
            "submitted_by": by,
            "submitted_from": source,
        }
        batch = WriteBatch(
            nodes=[NodeWrite(submission_id, Label.SUBMISSION, PropertyWrite(create=props))],
            edges=[EdgeWrite(submission_id, Rel.SUBMITTED_FOR, event_id, "", PropertyWrite())],
        )

        per_event = self.limits.per_event

        def event_still_there(graph: GraphReader) -> WriteBatch:
            if event_id not in graph.get_nodes([event_id]):
                raise WriteConflict(f"event {event_id} was merged meanwhile")
            # counted inside the write, so simultaneous submissions cannot pass the cap
            edges = graph.edges([event_id], Rel.SUBMITTED_FOR, "in").get(event_id, [])
            others = graph.get_nodes([e.src for e in edges if e.src != submission_id])
            waiting = [n for n in others.values() if _waiting(n, cutoff)]
            if len(waiting) >= per_event:
                raise EditorialError(
                    f"eventId: event '{event_id}' has {per_event} submissions waiting for "
                    "review already, the most one event may have; try again once editors "
                    "have reviewed them"
                )
            return WriteBatch()

        try:
            self.store.write(batch, derive=event_still_there)
        except WriteConflict:
            raise EditorialError(
                f"eventId: event '{event_id}' was just merged into another; reload it"
            ) from None
        self.sweep_expired(self.limits.sweep)
        return self.store.get_nodes([submission_id])[submission_id]

    def sweep_expired(self, limit: int) -> list[str]:
        """Remove up to `limit` pending submissions that have expired, oldest first, with their
        link to the event, in one write logged as `expired` (the log keeps their ids and when
        they were made, not what they held). One reviewed meanwhile stays: the write checks
        each is still pending and expired inside its transaction, and otherwise removes none
        (the next sweep takes them). The ids removed."""
        if limit <= 0:
            return []
        cutoff = self._cutoff()
        oldest = self.store.find_nodes(
            Label.SUBMISSION, {"status": "pending"}, "submitted_at", limit, None
        )
        expired = [n for n in oldest if n.text("submitted_at") <= cutoff]
        if not expired:
            return []
        ids = [n.id for n in expired]
        at = self._stamp()
        days = self.limits.ttl.days
        why = Why(
            "review", f"{len(ids)} pending submissions expired after {days} days", "newsgraph"
        )
        made = json.dumps({n.id: n.text("submitted_at") for n in expired}, sort_keys=True)
        batch = WriteBatch(nodes=[edit("expired", at, why, ids[0], removed=made)])

        def still_expired(graph: GraphReader) -> WriteBatch:
            # read in the write's transaction: removed only if none was reviewed meanwhile
            now = graph.get_nodes(ids)
            if any(i not in now or not _expired(now[i], cutoff) for i in ids):
                raise WriteConflict("a submission was reviewed meanwhile")
            return WriteBatch(deletes=ids)

        try:
            self.store.write(batch, derive=still_expired)
        except WriteConflict:
            return []
        return ids

    def pending(
        self, first: int, after: tuple[str, str] | None = None, event_id: str | None = None
    ) -> list[Node]:
        """Pending submissions that have not expired, oldest first, optionally only those for
        one event."""
        cutoff = self._cutoff()
        if event_id is None:
            where = {"status": "pending"}
            after = max(after, (cutoff, "")) if after is not None else (cutoff, "")
            return self.store.find_nodes(Label.SUBMISSION, where, "submitted_at", first, after)
        edges = self.store.edges([event_id], Rel.SUBMITTED_FOR, "in")[event_id]
        nodes = self.store.get_nodes([e.src for e in edges])
        found = sorted(
            (n.text("submitted_at"), n.id, n) for n in nodes.values() if _waiting(n, cutoff)
        )
        return [n for at, i, n in found if after is None or (at, i) > after][:first]

    def approve(self, submission_id: str, by: str, note: str | None = None) -> Review:
        """Turn a pending submission into a report by its outlet (found by name or alias in
        the registry, or created with tier `unknown`) and re-rate the event. A URL the event
        already has a report for is a duplicate: recorded as such, nothing else changes."""
        submission, event_id = self._pending(submission_id)
        url = submission.text("url")
        at = self._stamp()
        duplicate = self._duplicate(event_id, url)
        reviewed: dict[str, Value] = {"reviewed_by": by, "reviewed_at": at, "review_note": note}
        if duplicate is not None:
            reviewed |= {"status": "duplicate", "duplicate_of": duplicate}
            why = Why("review", f"duplicate of {duplicate}", by)
            self._write_review(submission_id, reviewed, why, at)
            return Review(self._node(submission_id), duplicate)
        outlet_name = submission.text("outlet_name")
        why = Why("approval", f"approved submission {submission_id} ({outlet_name}, {url})", by)
        reviewed["status"] = "approved"
        ingestor = Ingestor(self.store, self.now, by)
        record = self._record(submission, event_id, at)
        ingestor.ingest_into(
            record,
            event_id,
            why,
            also=[
                NodeWrite(submission_id, Label.SUBMISSION, PropertyWrite(set=reviewed)),
                edit("approved", at, why, submission_id, event=event_id),
            ],
            guard=_still_pending(submission_id),
            lock=_lock(submission_id, at).nodes,
        )
        self.changes += ingestor.changes
        return Review(self._node(submission_id))

    def reject(self, submission_id: str, reason: str, by: str) -> Node:
        """Reject a pending submission with a reason (1 to 1000 characters)."""
        if not 1 <= len(reason.strip()) <= 1000:
            raise EditorialError("reason: give a reason of 1 to 1000 characters")
        self._pending(submission_id)
        at = self._stamp()
        reviewed: dict[str, Value] = {
            "status": "rejected",
            "reviewed_by": by,
            "reviewed_at": at,
            "review_note": reason.strip(),
        }
        self._write_review(submission_id, reviewed, Why("review", reason.strip(), by), at)
        return self._node(submission_id)

    def _cutoff(self) -> str:
        """Pending submissions made at or before this time have expired."""
        return timestamp(self.now() - self.limits.ttl)

    def _pending(self, submission_id: str) -> tuple[Node, str]:
        node = self._expect(submission_id, Label.SUBMISSION, "id")
        status = node.text("status")
        if status != "pending":
            raise EditorialError(
                f"submission {submission_id} is already {status} (by "
                f"{node.text('reviewed_by')} at {node.text('reviewed_at')})"
            )
        if not _waiting(node, self._cutoff()):
            raise EditorialError(
                f"submission {submission_id} has expired: a pending submission expires "
                f"{self.limits.ttl.days} days after it is made (this one "
                f"{node.text('submitted_at')})"
            )
        edges = self.store.edges([submission_id], Rel.SUBMITTED_FOR, "out")[submission_id]
        if not edges:
            raise EditorialError(f"submission {submission_id} has lost its event")
        return node, edges[0].dst

    def _duplicate(self, event_id: str, url: str) -> str | None:
        """The report of `event_id` with the same URL, described, if there is one."""
        wanted = normalise_url(url)
        reports = self.store.edges([event_id], Rel.REPORTS, "in")[event_id]
        for report in reports:
            given = report.props.get("url")
            if isinstance(given, str) and normalise_url(given) == wanted:
                outlet = self.store.get_nodes([report.src]).get(report.src)
                name = outlet.text("name") if outlet is not None else report.src
                return f"the report by {name} ({given})"
        return None

    def _write_review(
        self, submission_id: str, reviewed: dict[str, Value], why: Why, at: str
    ) -> None:
        guard = _still_pending(submission_id)

        def derive(graph: GraphReader) -> WriteBatch:
            guard(graph)
            return WriteBatch(
                nodes=[
                    NodeWrite(submission_id, Label.SUBMISSION, PropertyWrite(set=reviewed)),
                    edit(str(reviewed["status"]), at, why, submission_id),
                ]
            )

        self.store.write(_lock(submission_id, at), derive=derive)

    def _record(self, submission: Node, event_id: str, at: str) -> Record:
        """The extractor record an approved submission amounts to: one report, by its outlet,
        of the stored event (whose summary, category and date it repeats)."""
        event = self._node(event_id)
        claim, tone = submission.text("claim"), submission.text("tone")
        raw = {
            "schema_version": 1,
            "extracted_at": at,
            "source_story": {
                "slug": f"submission-{submission.id}",
                "outlet": submission.text("outlet_name"),
                "url": submission.text("url"),
            },
            "event": {
                "category": event.text("category"),
                "summary": event.text("summary"),
                "occurred_on": event.text("occurred_on"),
                "reports": [
                    {
                        "outlet": submission.text("outlet_name"),
                        "url": submission.text("url"),
                        "claims": [{"text": claim, "tone": tone or "certain"}] if claim else [],
                    }
                ],
            },
        }
        record = validate(raw, 0)
        if not isinstance(record, Record):
            raise EditorialError(f"submission {submission.id} cannot become a report: {record}")
        return record

    # -- the outlet registry -----------------------------------------------------------------

    def update_outlet(self, outlet_id: str, change: dict[str, Any], by: str) -> Node:
        """Change an outlet's tier, independence group or aliases (the full new list; its
        name always stays one), and re-rate every event it reported."""
        try:
            value = OutletChange.model_validate(change)
        except ValidationError as exc:
            raise EditorialError(describe(exc)) from None
        return resolving_again(lambda: self._update_outlet(outlet_id, value, by))

    def _update_outlet(self, outlet_id: str, value: OutletChange, by: str) -> Node:
        outlet = self._expect(outlet_id, Label.OUTLET, "id")
        name = outlet.text("name")
        at = self._stamp()
        changed: dict[str, Value] = {}
        batch = WriteBatch()
        claims: dict[str, str] = {}
        if value.tier is not None and value.tier != outlet.text("tier"):
            changed["tier"] = value.tier
        if value.group is not None and (value.group or None) != outlet.props.get("group"):
            changed["group"] = value.group or None
        if value.aliases is not None:
            aliases = sorted({name, *value.aliases})
            if aliases != outlet.texts("aliases"):
                changed["aliases"] = aliases
                wanted = set(keys.outlet_keys(aliases))
                owners = self.store.lookup_keys(sorted(wanted))
                taken = {k: o for k, o in owners.items() if o != outlet_id}
                if taken:
                    others = self.store.get_nodes(sorted(set(taken.values())))
                    names = ", ".join(sorted(n.text("name") for n in others.values()))
                    raise EditorialError(
                        f"aliases: a name is already another outlet's ({names}); "
                        "merge the two outlets instead"
                    )
                claims = {k: outlet_id for k in wanted if k not in owners}
                batch.keys.update(claims)
                owned = self.store.keys_of([outlet_id])[outlet_id]
                batch.rekeys.update({k: None for k in owned if k not in wanted})
        if not changed:
            return outlet
        before = {k: outlet.props.get(k) for k in changed}
        detail = f"outlet {name}: " + "; ".join(
            f"{k} {_show(before[k])} -> {_show(v)}" for k, v in changed.items()
        )
        why = Why("registry", detail, by)
        batch.nodes += [
            NodeWrite(outlet_id, Label.OUTLET, PropertyWrite(set=changed)),
            edit("update-outlet", at, why, outlet_id, before=json.dumps(before, sort_keys=True)),
        ]
        events = self._reported_by([outlet_id])
        self._write_rated(batch, events, why, at, claims)
        return self._node(outlet_id)

    def merge_outlets(self, old: str, into: str, by: str) -> Node:
        """Merge outlet `old` into `into` (two spellings of one outlet): its names, keys and
        reports move; every event either reported is re-rated."""
        if old == into:
            raise EditorialError("from and into are the same outlet")
        return resolving_again(lambda: self._merge_outlets(old, into, by))

    def _merge_outlets(self, old: str, into: str, by: str) -> Node:
        gone = self._expect(old, Label.OUTLET, "from")
        kept = self._expect(into, Label.OUTLET, "into")
        at = self._stamp()
        why = Why("registry", f"outlet {gone.text('name')} merged into {kept.text('name')}", by)
        events = self._reported_by([old, into])
        batch = WriteBatch()
        merge_nodes(
            self.store,
            batch,
            [old],
            Label.OUTLET,
            lambda o: into if o == old else o,
            why=why,
            at=at,
        )
        self._write_rated(batch, events, why, at, {})
        return self._node(into)

    def _reported_by(self, outlets: Sequence[str]) -> list[str]:
        reported = self.store.edges(list(outlets), Rel.REPORTS, "out")
        return sorted({e.dst for edges in reported.values() for e in edges})

    def _write_rated(
        self, batch: WriteBatch, events: Sequence[str], why: Why, at: str, claims: dict[str, str]
    ) -> None:
        changes: list[LevelChange] = []
        derive = rating(events, current_policy(self.store), why, at, changes)
        self.store.write(batch, derive=checked(claims, derive))
        self.changes += changes

    # -- the confidence policy ---------------------------------------------------------------

    def set_policy(self, text: str, by: str) -> Policy:
        """Replace the confidence policy and re-rate every event under it (see
        `setting_policy`, whose steps this runs all at once)."""
        steps = self.setting_policy(text, by)
        for _ in steps:
            pass
        return steps.policy

    def setting_policy(self, text: str, by: str) -> PolicySteps:
        """The steps of replacing the confidence policy: it is validated at once; iterating
        writes it with the first `policy.RERATE_CHUNK` events re-rated, then re-rates the rest, a
        chunk per step (so a server can answer other requests in between).

        Should the process stop in between, setting the same policy again finishes the
        re-rating (events already rated under it do not change)."""
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise EditorialError(f"policy: not valid JSON ({exc})") from None
        try:
            policy = Policy.model_validate(raw)
        except ValidationError as exc:
            raise EditorialError("policy." + describe(exc)) from None
        return PolicySteps(self.store, policy, by, self.now, self.changes)

    # -- entities (services.entity_editing) ----------------------------------------------------

    def merge_entities(self, old: str, into: str, by: str) -> Node:
        """Merge entity `old` into `into`; returns the log entry a split takes."""
        return self._entities().merge_entities(old, into, by)

    def split(self, merge_id: str, by: str) -> tuple[Node, Node]:
        """Undo the entity merge logged as `merge_id` (`EntityEditing.split`)."""
        return self._entities().split(merge_id, by)

    def _entities(self) -> EntityEditing:
        return EntityEditing(self.store, self.now, self.changes)


def _lock(submission_id: str, at: str) -> WriteBatch:
    """A write to the submission that changes nothing a reader sees: a store with concurrent
    writers serialises the transactions that write one node, so two editors reviewing one
    submission at once take turns, and the second one's guard sees the first's review."""
    return WriteBatch(
        nodes=[
            NodeWrite(submission_id, Label.SUBMISSION, PropertyWrite(set={"review_started_at": at}))
        ]
    )


def _still_pending(submission_id: str) -> Callable[[GraphReader], None]:
    """Refuses a review's write when another editor reviewed the submission meanwhile."""

    def guard(graph: GraphReader) -> None:
        node = graph.get_nodes([submission_id]).get(submission_id)
        if node is None or node.text("status") != "pending":
            status = node.text("status") if node is not None else "gone"
            by = node.text("reviewed_by") if node is not None else "someone"
            raise EditorialError(f"submission {submission_id} was just {status} by {by}")

    return guard


def _expired(node: Node, cutoff: str) -> bool:
    """Whether a submission is pending and has expired."""
    return node.text("status") == "pending" and node.text("submitted_at") <= cutoff


def _waiting(node: Node, cutoff: str) -> bool:
    """Whether a submission is pending and has not expired."""
    return node.text("status") == "pending" and node.text("submitted_at") > cutoff


def _client_hash(client: str) -> str:
    """What a submission keeps of its client: enough to count, not the address itself."""
    return hashlib.sha256(client.encode("utf-8")).hexdigest()[:32]


def _show(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "none" if value is None else str(value)

"""The editorial API: source submissions and their review, the outlet registry, the confidence
policy, the extractor's `ingest`, and the editorial log. Correcting the graph (entity and
event merges and splits, keeping events apart, undo, possible duplicates) is `api.corrections`.

Every mutation checks its role on the server (`api.auth.requires`; `docs/auth.md` has the
table); a denied call is a GraphQL error and changes nothing. The work itself is in
`services.editorial`, `services.event_editing` and `services.ingest`; what each write
created and the confidence levels it changed reach live subscribers from the store's change
log (`api.follow`, `api.live`), as every other process's writes do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from api.auth import requires
from api.context import Info
from api.errors import UserError
from api.nodes import Event, Outlet
from api.paging import PageInfo, decode_cursor, encode_cursor, page_size
from api.scalars import Tier, Timestamp, Tone
from api.tokens import Role
from graph.model import Label, Node, Rel
from graph.store import StoreError
from loaders.records import Rejection, validate
from services.editorial import Editorial, SubmissionLimits
from services.ingest import Ingestor

T = TypeVar("T")

MAX_INGEST = 1000  # records per `ingest` call

EDITORS = requires(Role.EDITOR, Role.ADMIN)
LOADERS = requires(Role.LOADER, Role.ADMIN)
ADMINS = requires(Role.ADMIN)


@strawberry.enum(description="Where a submitted source stands in review.")
class SubmissionStatus(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@strawberry.type(description="A source a reader submitted for an event, and its review.")
class Submission:
    id: strawberry.ID
    node: strawberry.Private[Node]

    @classmethod
    def of(cls, node: Node) -> Submission:
        return cls(id=strawberry.ID(node.id), node=node)

    @strawberry.field
    def status(self) -> SubmissionStatus:
        return SubmissionStatus(self.node.text("status"))

    @strawberry.field
    async def event(self, info: Info) -> Event | None:
        edges = await info.context.edges(Rel.SUBMITTED_FOR, "out").load(self.id)
        node = await info.context.nodes.load(edges[0].dst) if edges else None
        return Event.of(node) if node is not None else None

    @strawberry.field
    def url(self) -> str:
        return self.node.text("url")

    @strawberry.field
    def outlet_name(self) -> str:
        return self.node.text("outlet_name")

    @strawberry.field
    def claim(self) -> str | None:
        return self.node.text("claim") or None

    @strawberry.field
    def tone(self) -> Tone | None:
        tone = self.node.text("tone")
        return Tone(tone) if tone else None

    @strawberry.field
    def note(self) -> str | None:
        return self.node.text("note") or None

    @strawberry.field
    def submitted_at(self) -> Timestamp:
        return Timestamp(self.node.text("submitted_at"))

    @strawberry.field(description="Who reviewed it (an editor's name), once reviewed.")
    def reviewed_by(self) -> str | None:
        return self.node.text("reviewed_by") or None

    @strawberry.field
    def reviewed_at(self) -> Timestamp | None:
        return Timestamp(self.node.text("reviewed_at")) or None

    @strawberry.field(description="The editor's note on approval, or the reason for rejection.")
    def review_note(self) -> str | None:
        return self.node.text("review_note") or None

    @strawberry.field(description="The report it duplicates, when it was a duplicate.")
    def duplicate_of(self) -> str | None:
        return self.node.text("duplicate_of") or None


@strawberry.type
class SubmissionEdge:
    cursor: str
    node: Submission


@strawberry.type(description="A page of submissions, oldest first.")
class SubmissionConnection:
    edges: list[SubmissionEdge]
    page_info: PageInfo


@strawberry.type(description="What an approval did.")
class Approval:
    submission: Submission
    duplicate: bool = strawberry.field(
        description="True when the event already had a report with this URL: nothing changed."
    )
    message: str


@strawberry.type(description="One entry of the editorial log: who did what, when and why.")
class LogEntry:
    id: strawberry.ID
    node: strawberry.Private[Node]

    @strawberry.field(
        description="merge, split, split-event, keep-apart, undo, possible-duplicate, "
        "approved, duplicate, rejected, update-outlet, set-policy, retract, correct, unpin, "
        "expired (pending submissions removed)"
    )
    def action(self) -> str:
        return self.node.text("action")

    @strawberry.field
    def at(self) -> Timestamp:
        return Timestamp(self.node.text("at"))

    @strawberry.field
    def by(self) -> str:
        return self.node.text("by")

    @strawberry.field(description="The node acted on: a merge's survivor, a submission, ...")
    def subject(self) -> strawberry.ID:
        return strawberry.ID(self.node.text("subject"))

    @strawberry.field
    def detail(self) -> str:
        return self.node.text("detail")

    @strawberry.field(description="For a merge: the id of the node merged away.")
    def merged(self) -> strawberry.ID | None:
        merged = self.node.text("merged")
        return strawberry.ID(merged) if merged else None

    @strawberry.field(description="For a merge: when it was split again, if it was.")
    def split_at(self) -> Timestamp | None:
        return Timestamp(self.node.text("split_at")) or None

    @strawberry.field(
        description="For an event merge, an event split or a keep-apart: when it was undone "
        "(`undoEdit`), if it was."
    )
    def undone_at(self) -> Timestamp | None:
        return Timestamp(self.node.text("undone_at")) or None

    @strawberry.field(description="For an undo: the id of the edit it undid.")
    def undid(self) -> strawberry.ID | None:
        undid = self.node.text("undid")
        return strawberry.ID(undid) if undid else None


@strawberry.type
class LogEntryEdge:
    cursor: str
    node: LogEntry


@strawberry.type(description="A page of the editorial log, oldest first.")
class LogConnection:
    edges: list[LogEntryEdge]
    page_info: PageInfo


def entry_of(node: Node) -> LogEntry:
    return LogEntry(id=strawberry.ID(node.id), node=node)


@strawberry.enum
class IngestStatus(Enum):
    LOADED = "loaded"  # a new event
    MERGED = "merged"  # into an event the graph had (or another record of this batch made)
    REJECTED = "rejected"


@strawberry.type(description="What became of one record of an `ingest` call.")
class IngestResult:
    index: int = strawberry.field(description="Its position in `records`, from 0.")
    status: IngestStatus
    event_id: strawberry.ID | None
    reason: str | None = strawberry.field(
        description="Why it was rejected, naming the field: 'event.reports[1].claims[0].tone: "
        "...'. Keep the record, fix it and send it again."
    )


@strawberry.type
class IngestReport:
    results: list[IngestResult]
    loaded: int
    merged: int
    rejected: int


@strawberry.type
class PolicyChange:
    policy: JSON
    events_changed: int = strawberry.field(description="Events whose level changed.")


def editorial_of(info: Info) -> Editorial:
    config = info.context.services.config
    rate = info.context.services.submissions
    limits = SubmissionLimits(
        per_event=config.max_pending_per_event,
        per_client=config.max_pending_per_client,
        ttl=timedelta(days=config.submission_ttl_days),
        rate=rate.amount,
        rate_window=rate.window,
        rate_text=rate.rate,
    )
    return Editorial(info.context.store, limits=limits)


async def wrote(info: Info) -> None:
    """This process committed a write: live subscribers hear of it from the change log now
    (`api.follow`) rather than at the follower's next look."""
    await info.context.services.wrote()


async def write(info: Info, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)`, a use case that commits a write (`RequestContext.call`), then `wrote`:
    the mutation answers once live subscribers have heard of it."""
    done = await info.context.call(work, *args)
    await wrote(info)
    return done


def _submissions(
    nodes: list[Node], first: int, has_next: bool, after: str | None
) -> SubmissionConnection:
    edges = [
        SubmissionEdge(cursor=encode_cursor(n.text("submitted_at"), n.id), node=Submission.of(n))
        for n in nodes[:first]
    ]
    return SubmissionConnection(edges=edges, page_info=log_page_info(edges, has_next, after))


def log_page_info(edges: list[Any], has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )


def log_cursor(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    at, node_id = decode_cursor(after, 2)
    return at, node_id


@strawberry.type
class EditorialQuery:
    @strawberry.field(
        description="Submissions waiting for review, oldest first; only those for `eventId` "
        "when given. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def pending_submissions(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        event_id: strawberry.ID | None = None,
    ) -> SubmissionConnection:
        size = page_size(first)
        pending = editorial_of(info).pending
        found = await info.context.read(pending, size + 1, log_cursor(after), event_id)
        return _submissions(found, size, len(found) > size, after)

    @strawberry.field(
        description="One submission by id. Editors and admins.", permission_classes=[EDITORS]
    )
    async def submission(self, info: Info, id: strawberry.ID) -> Submission | None:
        node = await info.context.nodes.load(str(id))
        if node is None or node.label is not Label.SUBMISSION:
            raise UserError(f"no submission with id '{id}'")
        return Submission.of(node)

    @strawberry.field(
        description="The editorial log, oldest first: merges (with what a split needs), "
        "splits, reviews, registry and policy changes; only entries about `subject` when "
        "given. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def editorial_log(
        self,
        info: Info,
        first: int = 20,
        after: str | None = None,
        subject: strawberry.ID | None = None,
    ) -> LogConnection:
        size = page_size(first)
        where = {"subject": str(subject)} if subject is not None else {}
        found = await info.context.read(
            info.context.store.find_nodes, Label.EDIT, where, "at", size + 1, log_cursor(after)
        )
        edges = [
            LogEntryEdge(
                cursor=encode_cursor(n.text("at"), n.id),
                node=LogEntry(id=strawberry.ID(n.id), node=n),
            )
            for n in found[:size]
        ]
        return LogConnection(edges=edges, page_info=log_page_info(edges, len(found) > size, after))

    @strawberry.field(description="The confidence policy in force (thresholds, trusted tiers).")
    def confidence_policy(self, info: Info) -> JSON:
        policy: JSON = json.loads(info.context.policy.to_json())
        return policy


@strawberry.type
class EditorialMutation:
    @strawberry.mutation(
        description="Submit a source for an event, for editorial review. Open to anyone, "
        "rate-limited per client; nothing about the event changes until an editor approves."
    )
    async def submit_source(
        self,
        info: Info,
        event_id: strawberry.ID,
        url: str,
        outlet_name: str,
        claim: str | None = None,
        tone: Tone | None = None,
        note: str | None = None,
    ) -> Submission:
        context = info.context
        # the rate per client is counted in the store, in the submission's write
        # (services.editorial), so every process writing to it keeps one count
        given: dict[str, Any] = {"url": url, "outletName": outlet_name, "claim": claim}
        given |= {"tone": tone.value if tone else None, "note": note}
        by = context.actor.name
        submit = editorial_of(info).submit
        node = await context.call(submit, event_id, given, by, context.client)
        return Submission.of(node)

    @strawberry.mutation(
        description="Approve a pending submission: it becomes a report by its outlet (found "
        "by name or alias, or created with tier unknown) and the event is re-rated. A URL the "
        "event already has is recognised as a duplicate. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def approve_submission(
        self, info: Info, id: strawberry.ID, note: str | None = None
    ) -> Approval:
        editorial = editorial_of(info)
        review = await write(info, editorial.approve, id, info.context.actor.name, note)
        if review.duplicate_of is not None:
            message = f"duplicate of {review.duplicate_of}: nothing changed"
        else:
            message = f"approved: now a report by {review.submission.text('outlet_name')}"
        return Approval(
            submission=Submission.of(review.submission),
            duplicate=review.duplicate_of is not None,
            message=message,
        )

    @strawberry.mutation(
        description="Reject a pending submission, with a reason. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def reject_submission(self, info: Info, id: strawberry.ID, reason: str) -> Submission:
        by = info.context.actor.name
        return Submission.of(await info.context.call(editorial_of(info).reject, id, reason, by))

    @strawberry.mutation(
        description="Change an outlet's tier, independence group or aliases (the full new "
        "list); every event it reported is re-rated. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def update_outlet(
        self,
        info: Info,
        id: strawberry.ID,
        tier: Tier | None = None,
        group: str | None = None,
        aliases: list[str] | None = None,
    ) -> Outlet:
        editorial = editorial_of(info)
        change = {"tier": tier.value if tier else None, "group": group, "aliases": aliases}
        by = info.context.actor.name
        node = await write(info, editorial.update_outlet, id, change, by)
        return Outlet.of(node)

    @strawberry.mutation(
        description="Merge outlet `from` into `into` (one outlet under two names); the events "
        "either reported are re-rated. Editors and admins.",
        permission_classes=[EDITORS],
    )
    async def merge_outlets(
        self,
        info: Info,
        # not `source`: strawberry's permission extension takes that name
        old: Annotated[strawberry.ID, strawberry.argument(name="from")],
        into: strawberry.ID,
    ) -> Outlet:
        editorial = editorial_of(info)
        by = info.context.actor.name
        node = await write(info, editorial.merge_outlets, old, into, by)
        return Outlet.of(node)

    @strawberry.mutation(
        description="Replace the confidence policy (same shape as `confidencePolicy`); every "
        "event is re-rated and each change of level recorded. Admins.",
        permission_classes=[ADMINS],
    )
    async def set_confidence_policy(self, info: Info, policy: JSON) -> PolicyChange:
        editorial = editorial_of(info)
        text = json.dumps(policy)
        by = info.context.actor.name
        steps = editorial.setting_policy(text, by)
        chunks = iter(steps)
        while await info.context.call(next, chunks, None) is not None:
            # Other requests go on between chunks (a second per 10,000 events on the embedded
            # store); each chunk is its own write, rated under the new policy.
            await asyncio.sleep(0)
        await wrote(info)
        return PolicyChange(
            policy=json.loads(steps.policy.to_json()), events_changed=len(editorial.changes)
        )

    @strawberry.mutation(
        description=f"Load extractor records (the JSON Lines contract, one object each, at "
        f"most {MAX_INGEST}) in one atomic write, as `newsgraph load` does: each is loaded, "
        "merged, or rejected with its reason while the others load. Loaders and admins.",
        permission_classes=[LOADERS],
    )
    async def ingest(self, info: Info, records: list[JSON]) -> IngestReport:
        if len(records) > MAX_INGEST:
            raise UserError(f"records: at most {MAX_INGEST} per call, got {len(records)}")
        results: dict[int, IngestResult] = {}
        good = []
        for index, raw in enumerate(records):
            parsed = validate(raw, index)
            if isinstance(parsed, Rejection):
                results[index] = IngestResult(
                    index=index, status=IngestStatus.REJECTED, event_id=None, reason=parsed.reason
                )
            else:
                good.append((index, parsed))
        ingestor = Ingestor(info.context.store, by=info.context.actor.name)
        try:
            ingested = await info.context.call(ingestor.ingest, good)
        except StoreError as exc:
            raise UserError(f"nothing was loaded: {exc}") from exc
        created = []
        for done in ingested:
            status = IngestStatus.LOADED if done.outcome == "created" else IngestStatus.MERGED
            if done.outcome == "created":
                created.append(done.event_id)
            results[done.line] = IngestResult(
                index=done.line, status=status, event_id=strawberry.ID(done.event_id), reason=None
            )
        await wrote(info)
        ordered = [results[i] for i in range(len(records))]
        return IngestReport(
            results=ordered,
            loaded=sum(r.status is IngestStatus.LOADED for r in ordered),
            merged=sum(r.status is IngestStatus.MERGED for r in ordered),
            rejected=sum(r.status is IngestStatus.REJECTED for r in ordered),
        )

"""Takedowns (admins): content removed from the graph for a legal reason, everywhere it was
copied (docs/editorial.md, "Takedowns").

A takedown names a story, a report, one claim of a report or a submission. Its texts (claims,
a summary, a URL, a submission's claim) are removed from every node and relationship property
of the store: a claim from a report's parallel claim lists, any other copy (the matcher's
mentions, the editorial log's merged states, the confidence history's details, an event's
summary) replaced by `[removed]`, inside JSON text too. The affected events are re-profiled and
re-rated in the same write. The audit entry (an `Edit` node, action `takedown`) keeps the
target's id and the SHA-256 of each text removed, never the text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graph.confidence import current_policy
from graph.history import LevelChange, Why, edit
from graph.model import (
    Edge,
    EdgeWrite,
    Label,
    Node,
    NodeWrite,
    PropertyWrite,
    Props,
    Rel,
    Value,
    WriteBatch,
    strings,
)
from graph.store import GraphReader, WriteConflict
from services.conflicts import resolving_again
from services.editing import MAX_REASON, EditorialError, EditorialWork
from services.matching import reprofile
from services.rating import rating
from services.redirects import find_report

REMOVED = "[removed]"
# A text shorter than this is removed where a whole value equals it; longer ones wherever
# they occur inside a value too (a two-letter claim must not blank every word containing it).
SUBSTRING_FROM = 6


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Content:
    """What a takedown removes: its texts and the events they are about."""

    kind: str
    texts: tuple[str, ...]
    events: tuple[str, ...]


@dataclass
class Takedowns(EditorialWork):
    """Takedowns on `store`, each by an admin `by`."""

    def takedown(self, target: str, reason: str, by: str) -> tuple[Node, list[Node]]:
        """Remove the content of `target` (a story, report, claim or submission id) from the
        whole graph. Returns the audit entry and the events re-rated."""
        return resolving_again(lambda: self._takedown(target, reason, by))

    def _takedown(self, target: str, reason: str, by: str) -> tuple[Node, list[Node]]:
        reason = reason.strip()
        if not reason:
            raise EditorialError("reason is empty: say why")
        if len(reason) > MAX_REASON:
            raise EditorialError(f"reason is longer than {MAX_REASON} characters")
        done = self.store.find_nodes(Label.EDIT, {"action": "takedown", "subject": target}, "at", 1)
        if done:
            raise EditorialError(
                f"target: {target} was taken down already, by {done[0].text('by')} at "
                f"{done[0].text('at')} ({done[0].id})"
            )
        content = self._content(target)
        texts = [t for t in dict.fromkeys(content.texts) if t.strip()]
        if not texts:
            raise EditorialError(f"target: {target} holds no text to take down")
        at = self._stamp()
        for text in texts:  # the admin's reason may quote it: the log must not
            reason = _scrub_text(reason, text)
        why = Why("takedown", f"takedown of {content.kind} {target}: {reason}", by)
        batch = _scrubbed(self.store.dump(), texts)
        self._summaries_again(batch, texts)
        hashes = json.dumps(sorted(sha256(t) for t in texts))
        entry = edit("takedown", at, why, target, kind=content.kind, removed=hashes)
        batch.nodes.append(entry)
        events = sorted(content.events)
        changes: list[LevelChange] = []
        rate = rating(events, current_policy(self.store), why, at, changes)

        def derive(graph: GraphReader) -> WriteBatch:
            if graph.get_nodes([entry.id])[entry.id].text("at") != at:
                raise WriteConflict(f"{target} was taken down meanwhile")
            derived = rate(graph)
            profiles = reprofile(graph, events)
            derived.nodes.extend(profiles.nodes)
            derived.keys.update(profiles.keys)
            derived.rekeys.update(profiles.rekeys)
            return derived

        self.store.write(batch, derive=derive)
        self.changes += changes
        nodes = self.store.get_nodes(events)
        return self._node(entry.id), [nodes[e] for e in events if e in nodes]

    def _summaries_again(self, batch: WriteBatch, texts: Sequence[str]) -> None:
        """An event whose summary was the text taken down takes another of its stories'
        summaries (the earliest extracted) rather than `[removed]`, where one is left."""
        blanked = [
            w
            for w in batch.nodes
            if w.label is Label.EVENT and w.change.set.get("summary") == REMOVED
        ]
        if not blanked:
            return
        described = self.store.edges([w.id for w in blanked], Rel.DESCRIBES, "in")
        for write in blanked:
            by_first = sorted(
                described[write.id], key=lambda e: str(e.props.get("first_extracted_at"))
            )
            for d in by_first:
                summary = d.props.get("summary")
                if isinstance(summary, str) and _scrub_value(summary, texts) == summary:
                    write.change.set = {**write.change.set, "summary": summary}
                    break

    def _content(self, target: str) -> Content:
        if target.startswith(f"{Rel.REPORTS.value}:"):
            report, _, index = target.partition("#")
            edge = self._report(report)
            claims = strings(edge.props, "claim_texts")
            if not index:
                url = edge.props.get("url")
                return Content("report", (*claims, *_str(url)), (edge.dst,))
            if not index.isdigit() or int(index) >= len(claims):
                raise EditorialError(f"target: report {report} has no claim #{index}")
            return Content("claim", (claims[int(index)],), (edge.dst,))
        node = self.store.get_nodes([target]).get(target)
        if node is not None and node.label is Label.STORY:
            described = self.store.edges([target], Rel.DESCRIBES, "out")[target]
            events = tuple(sorted({e.dst for e in described}))
            texts: list[str] = [*_str(node.props.get("url"))]
            for d in described:
                texts += _str(d.props.get("summary"))
                for mention in strings(d.props, "mention"):
                    data = json.loads(mention)
                    texts += _str(data.get("summary"))
                    texts += [str(c) for c in data.get("claims") or []]
            for reports in self.store.edges(list(events), Rel.REPORTS, "in").values():
                for r in reports:
                    if r.discriminator == target:
                        texts += strings(r.props, "claim_texts") + _str(r.props.get("url"))
            return Content("story", tuple(texts), events)
        if node is not None and node.label is Label.SUBMISSION:
            linked = self.store.edges([target], Rel.SUBMITTED_FOR, "out")[target]
            texts = [*_str(node.props.get("claim")), *_str(node.props.get("url"))]
            return Content("submission", tuple(texts), tuple(e.dst for e in linked))
        raise EditorialError(
            f"target: no story, report, claim or submission with id '{target}' (a report id is "
            "REPORTS:<outlet>:<event>:<story>, a claim's adds #<index>)"
        )

    def _report(self, report: str) -> Edge:
        return find_report(self.store, report, "target")


def _str(value: Value) -> list[str]:
    return [value] if isinstance(value, str) and value else []


def _forms(text: str) -> list[str]:
    """`text` as it is, and as it appears inside JSON text (escaped, ASCII or not)."""
    forms = [
        text,
        json.dumps(text, ensure_ascii=False)[1:-1],
        json.dumps(text, ensure_ascii=True)[1:-1],
    ]
    return list(dict.fromkeys(forms))


def _scrub_text(value: str, text: str) -> str:
    if value == text:
        return REMOVED
    if len(text) < SUBSTRING_FROM:
        return value
    for form in _forms(text):
        value = value.replace(form, REMOVED)
    return value


def _scrub_value(value: Value, texts: Sequence[str]) -> Value:
    if isinstance(value, str):
        for text in texts:
            value = _scrub_text(value, text)
        return value
    if isinstance(value, list):
        return [_scrub_value(v, texts) for v in value]  # type: ignore[misc]
    return value


def _scrubbed(items: Iterable[object], texts: Sequence[str]) -> WriteBatch:
    """The writes that remove `texts` from every node and relationship property of `items`
    (a store's `dump`)."""
    batch = WriteBatch()
    for item in items:
        if isinstance(item, Node):
            changed = _changed(item.props, texts, None)
            if changed:
                batch.nodes.append(NodeWrite(item.id, item.label, PropertyWrite(set=changed)))
        elif isinstance(item, Edge):
            changed = _changed(item.props, texts, item.type)
            if changed:
                ident = (item.src, item.type, item.dst, item.discriminator)
                batch.edges.append(EdgeWrite(*ident, PropertyWrite(set=changed)))
    return batch


def _changed(props: Props, texts: Sequence[str], rel: Rel | None) -> dict[str, Value]:
    """The properties of `props` that change once `texts` are removed, as they become."""
    changed: dict[str, Value] = {}
    if rel is Rel.REPORTS and "claim_texts" in props:
        pairs = list(
            zip(strings(props, "claim_texts"), strings(props, "claim_tones"), strict=False)
        )
        kept = [(t, tone) for t, tone in pairs if _scrub_value(t, texts) == t]
        if len(kept) != len(pairs):  # a claim taken down leaves the report's claims
            changed["claim_texts"] = [t for t, _ in kept]
            changed["claim_tones"] = [tone for _, tone in kept]
    for name, value in props.items():
        if name in changed:
            continue
        scrubbed = _scrub_value(value, texts)
        if scrubbed != value:
            changed[name] = scrubbed
    return changed

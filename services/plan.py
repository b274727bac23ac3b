"""The write plan of one ingest batch: its writes, with writes to one node or relationship
combined as they are planned (see docs/benchmarks.md, "writes combined in the plan")."""

from __future__ import annotations

from collections.abc import Hashable

from graph.model import EdgeWrite, Label, NodeWrite, PropertyWrite, Rel, WriteBatch


class WritePlan:
    """The writes of a batch being planned. Writes to one node (or relationship) are combined
    as they come (`combine`): every mention of an outlet, entity, place or country in a batch
    would write its node again, and every merge costs the store a copy of its properties."""

    def __init__(self) -> None:
        self._batch = WriteBatch()
        # node id -> (label, its writes so far, combined where the rules allow)
        self._nodes: dict[str, tuple[Label, list[PropertyWrite]]] = {}
        self._edges: dict[tuple[str, Rel, str, str], list[PropertyWrite]] = {}
        self.outlets: dict[str, str] = {}  # outlet name -> its node, written already
        # (type, name, aliases) of an entity mention -> its node, resolved already
        self.entities: dict[tuple[str, ...], str] = {}
        # (node id, what a ranked write says but its rank) -> the lowest rank written with it
        self._ranked: dict[tuple[str, Hashable], str] = {}

    @property
    def batch(self) -> WriteBatch:
        """The planned writes (appended to the batch when first asked for after planning)."""
        if self._nodes or self._edges:
            nodes, edges = self._batch.nodes, self._batch.edges
            for node_id, (label, merges) in self._nodes.items():
                nodes += [NodeWrite(node_id, label, m) for m in merges]
            for (src, rel, dst, key), merges in self._edges.items():
                edges += [EdgeWrite(src, rel, dst, key, m) for m in merges]
            self._nodes, self._edges, self.outlets, self._ranked = {}, {}, {}, {}
            self.entities = {}
        return self._batch

    def seen(self, node_id: str, content: Hashable, rank: str) -> bool:
        """Whether a write of `content` to `node_id` (a `first` rule ranked `rank`, `create`,
        `union`) would change nothing after those planned: the same content was written with a
        rank no higher. Else it is noted, and the caller writes it."""
        known = self._ranked.get((node_id, content))
        if known is not None and known <= rank:
            return True
        self._ranked[(node_id, content)] = rank
        return False

    def node(self, node_id: str, label: Label, merge: PropertyWrite) -> None:
        planned = self._nodes.get(node_id)
        if planned is None or planned[0] is not label:
            if planned is not None:  # a node of another label: the store refuses it
                self.batch.nodes.append(NodeWrite(node_id, label, merge))
                return
            self._nodes[node_id] = (label, [merge])
            return
        merges = planned[1]
        combined = combine(merges[-1], merge)
        if combined is None:
            merges.append(merge)
        else:
            merges[-1] = combined

    def edge(
        self, src: str, rel: Rel, dst: str, merge: PropertyWrite, discriminator: str = ""
    ) -> None:
        edge_id = (src, rel, dst, discriminator)
        merges = self._edges.get(edge_id)
        if merges is None:
            self._edges[edge_id] = [merge]
            return
        combined = combine(merges[-1], merge)
        if combined is None:
            merges.append(merge)
        else:
            merges[-1] = combined


EMPTY = PropertyWrite()


def combine(a: PropertyWrite, b: PropertyWrite) -> PropertyWrite | None:
    """One write with the effect of `a` then `b` on any stored properties, or None when the
    two must stay apart. The rules are commutative and idempotent, except `create` (the first
    write of a new node wins: `a`'s) and `set` (order matters: never combined); and `first`
    and `last` combine when both name the same properties (the lowest / highest rank wins,
    the earlier write on a tie, as in `apply_write`)."""
    if b is a or b == EMPTY:
        return a
    if a.set or b.set:
        return None
    first, first_rank = a.first, a.rank
    if b.first:
        if not first:
            first, first_rank = b.first, b.rank
        elif first.keys() != b.first.keys():
            return None
        elif b.rank < first_rank:
            first, first_rank = b.first, b.rank
    last, last_rank = a.last, a.rank
    if b.last:
        if not last:
            last, last_rank = b.last, b.rank
        elif last.keys() != b.last.keys():
            return None
        elif b.rank > last_rank:
            last, last_rank = b.last, b.rank
    if first and last:  # one PropertyWrite carries one rank
        return None
    union = a.union
    if b.union:
        if not union:
            union = b.union
        else:
            union = dict(union)
            for name, values in b.union.items():
                known = union.get(name)
                if known is None:
                    union[name] = values
                else:
                    new = [v for v in values if v not in known]
                    if new:
                        union[name] = [*known, *new]
    minimum = a.minimum
    if b.minimum:
        minimum = dict(minimum)
        for name, value in b.minimum.items():
            old = minimum.get(name)
            if old is None or value < old:
                minimum[name] = value
    maximum = a.maximum
    if b.maximum:
        maximum = dict(maximum)
        for name, value in b.maximum.items():
            old = maximum.get(name)
            if old is None or value > old:
                maximum[name] = value
    return PropertyWrite(
        create=a.create,
        first=first,
        last=last,
        rank=first_rank if first else last_rank if last else "",
        union=union,
        minimum=minimum,
        maximum=maximum,
    )

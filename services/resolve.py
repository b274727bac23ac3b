"""Identity keys to nodes within one write: which node owns a thing's keys, or the new one it is.

See `docs/identity.md`: names and fingerprints are normalised into identity keys, and a key
is owned by at most one node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from graph import keys

# The stored weight of each of some nodes (`Resolver`'s `weigh`): what merging it away moves.
Weigh = Callable[[Sequence[str]], Mapping[str, int]]


class Resolver:
    """Finds the node owning any of a thing's identity keys, or names a new one.

    It sees the store's owners and the claims made earlier in the same batch, so two records
    of one batch naming the same new entity resolve to one node. When one thing's keys are
    owned by two nodes, the two are one: the owner of its first owned key survives and the
    other is recorded in `merged` (ids resolve through `find`).

    With `weigh` (entities: how many events each involves), the heaviest of the owners
    survives instead, and the owner of the first owned key only among equals: a merge moves
    the lighter node's relationships, never a popular entity's thousands into a newcomer
    (docs/identity.md, "Which node survives").
    """

    def __init__(self, owners: dict[str, str], weigh: Weigh | None = None) -> None:
        self.owners = owners
        self.claims: dict[str, str] = {}
        self.created: set[str] = set()
        self.merged: dict[str, str] = {}
        self._weigh = weigh
        self._weights: dict[str, int] = {}  # node -> its weight, with what merged into it

    def find(self, node: str) -> str:
        """The node `node` now is, following merges."""
        while node in self.merged:
            node = self.merged[node]
        return node

    def owner(self, key: str) -> str | None:
        owner = self.claims.get(key) or self.owners.get(key)
        return self.find(owner) if owner is not None else None

    def resolve(self, identity: Sequence[str], prefix: str, current: str | None = None) -> str:
        """The node of a thing with these keys. `current` is the node it already is, if any:
        it survives only when none of the keys has another owner."""
        found = [o for k in identity if (o := self.owner(k)) is not None]
        if current is not None:
            found.append(self.find(current))
        if found:
            survivor = self._survivor(found)
            for other in found:
                if other != survivor and self.find(other) != survivor:
                    self._absorb(other, survivor)
        else:
            survivor = keys.node_id(prefix, identity[0])
            self.created.add(survivor)
        for key in identity:
            if key not in self.owners and key not in self.claims:
                self.claims[key] = survivor
        return survivor

    def _survivor(self, found: Sequence[str]) -> str:
        """The first of `found`, or with `weigh` the heaviest (the first among equals)."""
        distinct = list(dict.fromkeys(found))
        if len(distinct) == 1 or self._weigh is None:
            return distinct[0]
        unknown = [node for node in distinct if node not in self._weights]
        if unknown:
            weights = self._weigh(unknown)
            for node in unknown:
                self._weights[node] = weights.get(node, 0)
        # max keeps the first of equals
        return max(distinct, key=self._weights.__getitem__)

    def _absorb(self, other: str, survivor: str) -> None:
        self.merged[other] = survivor
        if self._weigh is not None:
            self._weights[survivor] = self._weights.get(survivor, 0) + self._weights.get(other, 0)

    def final_claims(self) -> dict[str, str]:
        return {k: self.find(o) for k, o in self.claims.items()}

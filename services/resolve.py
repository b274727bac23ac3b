"""Identity keys to nodes within one write: which node owns a thing's keys, or the new one it is.

See `docs/identity.md`: names and fingerprints are normalised into identity keys, and a key
is owned by at most one node.
"""

from __future__ import annotations

from collections.abc import Sequence

from graph import keys


class Resolver:
    """Finds the node owning any of a thing's identity keys, or names a new one.

    It sees the store's owners and the claims made earlier in the same batch, so two records
    of one batch naming the same new entity resolve to one node. When one thing's keys are
    owned by two nodes, the two are one: the owner of its first owned key survives and the
    other is recorded in `merged` (ids resolve through `find`).
    """

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.claims: dict[str, str] = {}
        self.created: set[str] = set()
        self.merged: dict[str, str] = {}

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
            survivor = found[0]
            for other in found[1:]:
                if other != survivor:
                    self.merged[other] = survivor
        else:
            survivor = keys.node_id(prefix, identity[0])
            self.created.add(survivor)
        for key in identity:
            if key not in self.owners and key not in self.claims:
                self.claims[key] = survivor
        return survivor

    def final_claims(self) -> dict[str, str]:
        return {k: self.find(o) for k, o in self.claims.items()}

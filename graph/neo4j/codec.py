"""Rows and values between the store port's types and the Neo4j store's statements: a merge
rule as a flat row of values (`merge_row`, `created_row`) with its statement's parameters
(`params`), relationship ids (`uid`), and stored records back as `Node`s and edge properties."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import neo4j

from graph.model import FIRST_RANK, LAST_RANK, Label, Node, PropertyWrite, Props, Value
from graph.neo4j import queries as q
from graph.store import StoreError


def rows(result: neo4j.Result) -> list[list[Any]]:
    """The rows of a collected read (`RETURN collect([...]) AS rows`: one record, or none)."""
    found: list[list[Any]] = []
    for record in result:
        found += record[q.ROWS]
    return found


def _nulls(props: Props) -> list[str]:
    return [k for k, v in props.items() if v is None]


def merge_row(merge: PropertyWrite, *ident: str) -> tuple[q.Shape, list[Any]]:
    """The shape of `merge` and its row of values (see `queries`)."""
    shape = q.Shape(
        create=tuple(sorted(merge.create)),
        first=tuple(sorted(merge.first)),
        last=tuple(sorted(merge.last)),
        union=tuple(sorted(merge.union)),
        minimum=tuple(sorted(merge.minimum)),
        maximum=tuple(sorted(merge.maximum)),
        set=tuple(sorted(merge.set)),
    )
    row: list[Any] = list(ident)
    row += [merge.create[n] for n in shape.create]
    row += [merge.first[n] for n in shape.first]
    row += [merge.last[n] for n in shape.last]
    row += [merge.set[n] for n in shape.set]
    row += [sorted(set(merge.union[n])) for n in shape.union]
    row += [merge.minimum[n] for n in shape.minimum]
    row += [merge.maximum[n] for n in shape.maximum]
    if shape.ranked:
        row.append(merge.rank)
    if shape.create:
        row.append(_nulls(merge.create) or None)
    if shape.nullable:
        row.append(_nulls(merge.first) + _nulls(merge.last) + _nulls(merge.set) or None)
    return shape, row


def created_row(props: Mapping[str, Value], *ident: str) -> tuple[tuple[str, ...], list[Any]]:
    """The property names of a node or relationship to create and its row: `ident`, the
    values (nulls included: the statement drops them), and the null names or null."""
    names = tuple(sorted(props))
    row: list[Any] = [*ident, *(props[n] for n in names)]
    row.append([n for n in names if props[n] is None] or None)
    return names, row


def params(shape: q.Shape, rows: list[list[Any]]) -> dict[str, Any]:
    """The parameters of a write statement of `shape` (see `queries`)."""
    found: dict[str, Any] = {"rows": rows}
    for name, names in (
        ("fk", shape.first),
        ("lk", shape.last),
        ("sk", shape.set),
        ("nn", shape.union + shape.minimum + shape.maximum),
    ):
        if names:
            found[name] = list(names)
    return found


def parts(merge: PropertyWrite) -> list[PropertyWrite]:
    """`merge` as one row, or, when its rules share a property name, as one row per rule in
    the order the rules apply (a row's SET items must not read what another item writes)."""
    names: list[str] = list(merge.first) + list(merge.last)
    names += list(merge.union) + list(merge.minimum) + list(merge.maximum) + list(merge.set)
    if merge.first:
        names.append(FIRST_RANK)
    if merge.last:
        names.append(LAST_RANK)
    if len(names) == len(set(names)):
        return [merge]
    split = [
        PropertyWrite(create=merge.create, first=merge.first, rank=merge.rank),
        PropertyWrite(last=merge.last, rank=merge.rank),
        PropertyWrite(union=merge.union),
        PropertyWrite(minimum=merge.minimum),
        PropertyWrite(maximum=merge.maximum),
        PropertyWrite(set=merge.set),
    ]
    return [p for p in split if p != PropertyWrite()] or [merge]


def uid(src: str, dst: str, key: str) -> str:
    """The `_uid` of a relationship: its ends and key, unique across the database."""
    return json.dumps([src, dst, key], ensure_ascii=False, separators=(",", ":"))


def _props(raw: dict[str, Any], hidden: frozenset[str]) -> dict[str, Value]:
    found: dict[str, Value] = {k: v for k, v in raw.items() if k not in hidden}
    for name in raw.get(q.NULLS) or ():
        found[name] = None
    return found


_LABELS = {label.value: label for label in Label}


def node(node_id: str, labels: Sequence[str], raw: dict[str, Any]) -> Node:
    """A stored node (its labels and raw properties) as a `Node`."""
    label = next((_LABELS[x] for x in labels if x in _LABELS), None)
    if label is None:
        raise StoreError(f"node {node_id} has none of the labels {', '.join(Label)}")
    return Node(node_id, label, _props(raw, q.NODE_HIDDEN))


def edge_props(raw: dict[str, Any]) -> tuple[str, dict[str, Value]]:
    """The key and the properties of a stored relationship (its raw properties)."""
    key = raw.get(q.KEY)
    return (key if isinstance(key, str) else ""), _props(raw, q.EDGE_HIDDEN)


def copy_props(props: Props) -> dict[str, Value]:
    """A copy of `props` that shares no list with it."""
    return {k: list(v) if isinstance(v, list) else v for k, v in props.items()}


def text(value: object) -> str:
    return value if isinstance(value, str) else ""

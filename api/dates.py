"""Date arguments inside the dates the graph holds (`graph.dates`), refused naming the argument.

A date outside them once reached the analytics, whose week and month arithmetic overflowed
(year 9999: "Unexpected error."). Two checks refuse it before any resolver runs:
- a literal (`timelineBuckets(from: "9999-01-01")`), by `DateRangeRule`, a validation rule
  whose message names the field and the argument (`filter.from` inside an input object);
- a variable, by the `Date` scalar itself (`DATE`): graphql-core's message names the variable.
The scalar parses literals without the range check, so a literal is refused once, by the rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from graphql import (
    GraphQLError,
    StringValueNode,
    ValidationRule,
    ValueNode,
    get_named_type,
)
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from api.limits import argument_named
from graph.dates import out_of_range


def _day(value: object) -> dt.date:
    if not isinstance(value, str):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Date: "{value}". Expected a string.'
        )
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Date: "{value}". {exc}'
        ) from None


def _parse_value(value: object) -> dt.date:
    day = _day(value)
    problem = out_of_range(day)
    if problem is not None:
        raise StrawberryInputCoercionError(problem)
    return day


def _parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> dt.date:
    if not isinstance(node, StringValueNode):
        raise StrawberryInputCoercionError("Value cannot represent a Date: expected a string.")
    return _day(node.value)  # the range: DateRangeRule, which names the argument


# strawberry's own Date (same name, description and format), with the range.
DATE: ScalarDefinition = strawberry.scalar(
    name="Date",
    description="Date (isoformat)",
    serialize=dt.date.isoformat,
    parse_value=_parse_value,
    parse_literal=_parse_literal,
)


class DateRangeRule(ValidationRule):
    """Refuses a literal date argument outside the graph's dates, naming it."""

    def enter_string_value(
        self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
    ) -> None:
        expected = self.context.get_input_type()
        if expected is None or get_named_type(expected).name != "Date":
            return
        try:
            day = dt.date.fromisoformat(node.value)
        except ValueError:
            return  # not a date at all: the scalar says so
        problem = out_of_range(day)
        if problem is None:
            return
        self.report_error(GraphQLError(f"{argument_named(parent, ancestors)}: {problem}", node))

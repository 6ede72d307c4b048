"""Compiling date points and named dates into getters: `(ctx, record) -> date | None`.

Durations count on the business calendar given; named dates are compiled once and cached per
evaluation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from mappings.calendar import BusinessCalendar, Duration, Unit
from mappings.catalogue import CATALOGUE, COLLECTIONS, Subject
from mappings.condition_schema import DateOffset, DatePoint
from mappings.date_schema import DateExpression, DateOfField, DateOfName, Earliest, FirstOf, Latest
from mappings.evaluation_context import Context, DateOf, Node, Record
from mappings.schema import MappingSpec
from mappings.schema_values import is_threshold_name


class DateCompiler(ABC):
    """Compiles the dates of one checked mapping; named dates are compiled on first use."""

    def __init__(self, spec: MappingSpec, calendar: BusinessCalendar) -> None:
        self.spec = spec
        self.calendar = calendar
        self._dates: dict[tuple[Subject, str], DateOf] = {}

    @abstractmethod
    def condition(self, spec: Any, subject: Subject) -> Node:
        """Compile one condition (a date over children may be limited by `where`)."""

    def duration(self, count: int | str) -> Duration:
        """A duration: a number of days, duration text, or a threshold's name."""
        if is_threshold_name(count):
            return Duration.parse(self.spec.thresholds[str(count)])
        return Duration.parse(count)

    def date_point(self, point: DatePoint, subject: Subject) -> DateOf:
        """What a date is compared with."""
        if point == "today":
            return lambda ctx, _: ctx.today
        if not isinstance(point, DateOffset):
            if point.today_minus_days is not None:
                back = self.mover(self.duration(point.today_minus_days), -1)
                return lambda ctx, _: back(ctx.today)
            ahead = self.mover(self.duration(point.today_plus_days or 0), 1)
            return lambda ctx, _: ahead(ctx.today)
        plus = self.mover(self.duration(point.plus_days), 1)
        minus = self.mover(self.duration(point.minus_days), -1)
        base = (
            self.named_date(subject, point.date)
            if point.date is not None
            else self.date_of_field(subject, point.field or "")
        )

        def offset(ctx: Context, record: Record) -> date | None:
            found = base(ctx, record)
            return None if found is None else minus(plus(found))

        return offset

    def mover(self, duration: Duration, sign: int) -> Callable[[date], date]:
        """A function moving a date by `duration` (calendar arithmetic where it is enough)."""
        shift = self.calendar.shift
        if duration.unit in (Unit.DAYS, Unit.WEEKS):
            days = duration.count * (7 if duration.unit is Unit.WEEKS else 1) * sign
            step = timedelta(days=days)

            def plain(day: date) -> date:
                try:
                    return day + step
                except OverflowError:  # past 9999-12-31 or before year 1: the calendar's answer
                    return shift(day, duration, sign)

            return plain
        return lambda day: shift(day, duration, sign)

    def date_of_field(self, subject: Subject, name: str) -> DateOf:
        """A date field's getter."""
        getter = CATALOGUE[subject][name].get
        return lambda _ctx, record: getter(record)

    def named_date(self, subject: Subject, name: str) -> DateOf:
        """A named date of the mapping, cached per evaluation."""
        key = (subject, name)
        if key not in self._dates:
            compute = self.date_expression(self.spec.dates.of(subject)[name], subject)
            tag = ("date", subject.value, name)

            def cached(ctx: Context, record: Record) -> date | None:
                slot = (*tag, record.id)
                if slot not in ctx.cache:
                    ctx.cache[slot] = compute(ctx, record)
                found: date | None = ctx.cache[slot]
                return found

            self._dates[key] = cached
        return self._dates[key]

    def date_expression(self, expression: DateExpression, subject: Subject) -> DateOf:
        """A date expression's getter."""
        if isinstance(expression, DateOfField):
            return self.date_of_field(subject, expression.field)
        if isinstance(expression, DateOfName):
            return self.named_date(subject, expression.date)
        if isinstance(expression, FirstOf):
            options = [self.date_expression(option, subject) for option in expression.first_of]

            def first(ctx: Context, record: Record) -> date | None:
                for option in options:
                    found = option(ctx, record)
                    if found is not None:
                        return found
                return None

            return first
        return self._extreme(expression, subject)

    def _extreme(self, expression: Latest | Earliest, subject: Subject) -> DateOf:
        collection = COLLECTIONS[subject][expression.of]
        child_subject, children = collection.kind, collection.read
        name = expression.latest if isinstance(expression, Latest) else expression.earliest
        getter = CATALOGUE[child_subject][name].get
        where = (
            None
            if expression.where is None
            else self.condition(expression.where, child_subject).test
        )
        pick = max if isinstance(expression, Latest) else min

        def extreme(ctx: Context, record: Record) -> date | None:
            found = [
                value
                for child in children(ctx, record)
                if (where is None or where(ctx, child)) and (value := getter(child)) is not None
            ]
            return pick(found) if found else None

        return extreme

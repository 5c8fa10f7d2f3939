"""The read API's query filters, declared per list: `phone`, `status`, `since`, `until` and each list's own.

A bad value is a 400 naming the parameter; so is a parameter the list does not know (a misspelt filter
must not silently return everything). The same declarations give the OpenAPI schema its parameters.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.db.models import Exists, OuterRef, Q
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend

from hub.phones import normalize_phone

#: Parameters every list takes besides its filters (the pagination's).
PAGINATION = ("cursor", "limit")
# A "+02:00" offset sent unencoded arrives as " 02:00": put the plus back.
_LOST_PLUS = re.compile(r" (\d\d(:?\d\d)?)$")


def parse_moment(name: str, given: str) -> datetime:
    """An ISO 8601 date-time (with `Z` or an offset; without one it is UTC) or a date (its midnight, UTC)."""
    text = _LOST_PLUS.sub(r"+\1", given.strip())
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time()) if day is not None else None
    except ValueError:  # well formed, out of range (month 13)
        moment = None
    if moment is None:
        raise ValidationError(
            f"'{name}' must be an ISO 8601 date-time such as 2026-12-01T08:00:00Z or 2026-12-01T11:00:00+03:00, "
            f"or a date such as 2026-12-01; not {given[:40]!r}"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Filter:
    """One query parameter: `name`, the model lookup it filters on, its description and OpenAPI type."""

    name: str
    lookup: str
    description: str
    schema: dict | None = None

    def parse(self, given: str):
        return given

    def apply(self, queryset, given: str):
        return queryset.filter(**{self.lookup: self.parse(given)})

    def parameter(self) -> dict:
        return {
            "name": self.name,
            "in": "query",
            "required": False,
            "description": self.description,
            "schema": self.schema or {"type": "string"},
        }


@dataclass(frozen=True, kw_only=True)
class Phone(Filter):
    name: str = "phone"
    description: str = "The subscriber's number in any format (+254711000001, 254711000001, 0711 000 001)."

    def parse(self, given):
        e164 = normalize_phone(given)
        if e164 is None:
            raise ValidationError(
                f"'phone' is not a phone number: {given[:40]!r} (use +254711000001; a local 0711... needs "
                "AT_DEFAULT_COUNTRY_CODE)"
            )
        return e164


@dataclass(frozen=True, kw_only=True)
class Status(Filter):
    """One status, or several comma-separated; with `choices`, anything else is a 400 listing them."""

    name: str = "status"
    choices: tuple = ()
    case_insensitive: bool = False

    def parse(self, given):
        values = [v.strip() for v in given.split(",") if v.strip()]
        if not values:
            raise ValidationError("'status' is empty")
        if self.choices:
            wrong = [v for v in values if v not in self.choices]
            if wrong:
                raise ValidationError(f"'status' must be one of {', '.join(self.choices)}; not {wrong[0][:40]!r}")
        return values

    def apply(self, queryset, given):
        values = self.parse(given)
        if self.case_insensitive:
            field = self.lookup.removesuffix("__in")
            condition = Q()
            for value in values:
                condition |= Q(**{f"{field}__iexact": value})
            return queryset.filter(condition)
        return queryset.filter(**{self.lookup: values})

    def parameter(self):
        parameter = super().parameter()
        if self.choices:
            parameter["schema"] = {"type": "string", "enum": list(self.choices)}
            parameter["description"] += " Several: comma-separated."
        return parameter


@dataclass(frozen=True, kw_only=True)
class Since(Filter):
    name: str = "since"
    description: str = "Only rows at or after this time (ISO 8601; no offset means UTC; a date means its midnight)."
    schema: dict | None = None

    def parse(self, given):
        return parse_moment(self.name, given)

    def parameter(self):
        return {**super().parameter(), "schema": {"type": "string", "format": "date-time"}}


@dataclass(frozen=True, kw_only=True)
class Until(Since):
    name: str = "until"
    description: str = "Only rows before this time (ISO 8601; no offset means UTC; a date means its midnight)."


@dataclass(frozen=True, kw_only=True)
class Integer(Filter):
    def parse(self, given):
        if not given.strip().isdigit():
            raise ValidationError(f"'{self.name}' must be a whole number (an id), not {given[:40]!r}")
        return int(given)

    def parameter(self):
        return {**super().parameter(), "schema": {"type": "integer"}}


@dataclass(frozen=True, kw_only=True)
class HasChild(Filter):
    """Rows with at least one child (`related`, linked by `parent`) matching `inner`: one EXISTS, no duplicates."""

    related: type | None = None
    parent: str = ""
    inner: Filter | None = None

    def apply(self, queryset, given):
        children = self.related._default_manager.filter(**{self.parent: OuterRef("pk")})
        return queryset.filter(Exists(self.inner.apply(children, given)))

    def parameter(self):
        return {**self.inner.parameter(), "name": self.name, "description": self.description}


def time_filters(field: str) -> tuple[Filter, Filter]:
    return Since(lookup=f"{field}__gte"), Until(lookup=f"{field}__lt")


class ApiFilters(BaseFilterBackend):
    """Applies the view's `filters` (a tuple of Filter); refuses parameters it does not know."""

    def filter_queryset(self, request, queryset, view):
        declared = {f.name: f for f in getattr(view, "filters", ())}
        for name in request.query_params:
            if name not in declared and name not in PAGINATION:
                known = ", ".join([*declared, *PAGINATION])
                raise ValidationError(f"Unknown parameter {name[:40]!r}: this list takes {known}")
        for name, given in request.query_params.items():
            if name in declared and given.strip() != "":
                queryset = declared[name].apply(queryset, given)
        return queryset

    def get_schema_operation_parameters(self, view):
        if getattr(view, "action", "list") != "list":
            return []
        return [f.parameter() for f in getattr(view, "filters", ())]

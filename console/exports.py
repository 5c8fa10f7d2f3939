"""Exports of every event and outbound list as CSV and XLSX, as filtered and searched on its page.

Each exportable list (the admins of sms, voice, airtime, simswap and ussd, less
the configuration staff edit: menus, screens, call flows, auto-reply rules) has
Export CSV and Export XLSX buttons, and answers scripts at
`<the list's URL>export/?<the list's query string>&format=csv` (or `xlsx`).
Both need a staff session (the site's `admin_view`), the permission
`console.export_lists` and the right to view the list.

The rows are the changelist's own: `get_changelist_instance()` on the request
(less `format` and the page number), then `cl.get_queryset()`, so filters,
search, the date drill-down and the ordering apply exactly as on the page. A
filter the list does not understand answers 400.

Columns: the model's concrete fields in their order (a callback's typed columns
first, then what every callback has: received at, times received, state,
payload...); a foreign key as its id, plus its text when the list already
joins that relation (`list_select_related`: no query per row). Choices are
their stored value, money a plain decimal next to its currency column, times
ISO 8601 in TIME_ZONE (XLSX: the spreadsheet's own date-times, in TIME_ZONE),
JSON as compact JSON text.

Memory stays bounded whatever the size of the list: the CSV is streamed
(`iterator(chunk_size=2000)` and `csv.writer` over a pseudo-buffer); the XLSX
is written by openpyxl's write-only workbook into a temporary file that
spills to disk and is then streamed from it. Text a spreadsheet would run as
a formula is neutralised (see `neutralise`).
"""

import copy
import csv
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import FileResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

PERMISSION = "console.export_lists"
FORMAT_VAR = "format"
CHUNK_SIZE = 2000  # rows read from the database at a time

#: Apps whose lists are exported: events, outbound rows, sessions, calls, state.
EXPORTED_APPS = ("sms", "voice", "airtime", "simswap", "ussd")
#: Configuration staff edit in those apps: not exported. A ModelAdmin may also
#: say `exportable = True` or `False` itself, which wins over both lists.
NOT_EXPORTED = {"sms.AutoReplyRule", "voice.VoiceFlow", "ussd.Menu", "ussd.Screen"}

FORMATS = {
    "csv": _("Export CSV"),
    "xlsx": _("Export XLSX"),
}
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSX_MAX_ROWS = 1_048_576  # a worksheet's rows, the header's included
XLSX_MAX_CELL = 32_767  # characters in one cell
XLSX_IN_MEMORY = 2 * 1024 * 1024  # a smaller workbook never touches the disk


# --- Which lists, who may ------------------------------------------------------------


def is_exportable(model_admin) -> bool:
    explicit = getattr(model_admin, "exportable", None)
    if explicit is not None:
        return bool(explicit)
    opts = model_admin.model._meta
    return opts.app_label in EXPORTED_APPS and opts.label not in NOT_EXPORTED


def may_export(request, model_admin) -> bool:
    """The list is exportable, and the user may export lists and view this one."""
    return is_exportable(model_admin) and request.user.has_perm(PERMISSION) and model_admin.has_view_permission(request)


def url_name(opts) -> str:
    return f"{opts.app_label}_{opts.model_name}_export"


def urls(site) -> list:
    """`<app>/<model>/export/` for every exportable list of `site` (named `<app>_<model>_export`).

    The site puts them before the models' own URLs, whose `<object id>/` would take "export/".
    """
    return [
        path(
            f"{model._meta.app_label}/{model._meta.model_name}/export/",
            site.admin_view(export_view),
            {"model_admin": model_admin},
            name=url_name(model._meta),
        )
        for model, model_admin in site._registry.items()
        if is_exportable(model_admin)
    ]


@dataclass(frozen=True)
class ExportLink:
    label: str
    url: str
    format: str


def links(cl, request) -> list[ExportLink]:
    """The Export buttons of a changelist (`cl`): one per format, for the list as filtered; none when not allowed."""
    model_admin = cl.model_admin
    if cl.is_popup or not may_export(request, model_admin):
        return []
    site = model_admin.admin_site
    try:
        base = reverse(f"{site.name}:{url_name(cl.opts)}", current_app=site.name)
    except NoReverseMatch:
        return []
    return [
        ExportLink(str(label), base + cl.get_query_string({FORMAT_VAR: name}), name) for name, label in FORMATS.items()
    ]


# --- The rows: the changelist's own queryset --------------------------------------------


def list_queryset(request, model_admin):
    """The rows of the list as `request` filters, searches and orders it (IncorrectLookupParameters when it cannot)."""
    list_request = copy.copy(request)
    list_request.GET = request.GET.copy()
    for name in (FORMAT_VAR, PAGE_VAR, ERROR_FLAG):  # not filters; ChangeList would take unknown ones as filters
        list_request.GET.pop(name, None)
    cl = model_admin.get_changelist_instance(list_request)
    return cl.get_queryset(list_request)


# --- Columns ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    get: Callable[[models.Model], Any]
    kind: str  # text, json, number, decimal, bool, datetime, date, time


def kind_of(field) -> str:
    if isinstance(field, models.JSONField):
        return "json"
    if isinstance(field, models.DateTimeField):  # before DateField: a DateTimeField is one
        return "datetime"
    if isinstance(field, models.DateField):
        return "date"
    if isinstance(field, models.TimeField):
        return "time"
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, (models.IntegerField, models.FloatField)):
        return "number"
    return "text"  # CharField, TextField, IP addresses, UUIDs, URLs, files (their name)


def joined_relations(queryset) -> set[str]:
    """The foreign keys the queryset already reads with `select_related` (their text costs no query)."""
    selected = queryset.query.select_related
    if selected is True:  # select_related() without names: every non-null foreign key
        return {f.name for f in queryset.model._meta.concrete_fields if f.many_to_one and not f.null}
    return set(selected) if isinstance(selected, dict) else set()


def related_text(name: str, obj):
    related = getattr(obj, name)
    return None if related is None else str(related)


def ordered_fields(model) -> list:
    """The concrete fields, the primary key first; a callback's own columns before those every callback has."""
    from hub.callbacks.models import CallbackEvent

    fields = list(model._meta.concrete_fields)
    if issubclass(model, CallbackEvent):
        common = [f.name for f in CallbackEvent._meta.local_fields]
        fields.sort(key=lambda f: (not f.primary_key, f.name in common))
    else:
        fields.sort(key=lambda f: not f.primary_key)
    return fields


def columns_for(queryset) -> list[Column]:
    joined = joined_relations(queryset)
    columns = []
    for field in ordered_fields(queryset.model):
        header = capfirst(str(field.verbose_name))
        if field.is_relation:
            columns.append(Column(f"{header} (id)", attrgetter(field.attname), kind_of(field.target_field)))
            if field.name in joined:
                columns.append(Column(header, partial(related_text, field.name), "text"))
        else:
            columns.append(Column(header, attrgetter(field.attname), kind_of(field)))
    return columns


def to_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


# --- Formulas -----------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SIGNED_NUMBER = re.compile(r"[+-][0-9]+(?:\.[0-9]+)?")


def neutralise(text: str) -> str:
    """Text a spreadsheet would run as a formula, with a leading `'` (OWASP's CSV injection advice).

    Text starting with =, +, -, @, a tab or a carriage return gets it, except a
    bare signed number ("+254711000001", "-5"): a spreadsheet reads it as a
    number, calls nothing, and E.164 phone numbers (in every list) stay as
    scripts expect them.
    """
    if text.startswith(FORMULA_STARTS) and not SIGNED_NUMBER.fullmatch(text):
        return "'" + text
    return text


# --- CSV ----------------------------------------------------------------------------


class Echo:
    """A pseudo-buffer: `csv.writer` writes a row into it and gets the row back (Django's "Streaming large CSV")."""

    def write(self, value):
        return value


def csv_converters(zone) -> dict[str, Callable[[Any], str]]:
    def text(value):
        return neutralise(str(value))

    def moment(value):
        return (timezone.localtime(value, zone) if timezone.is_aware(value) else value).isoformat()

    return {
        "text": text,
        "json": lambda value: neutralise(to_json(value)),
        "number": str,
        "decimal": lambda value: format(value, "f"),  # never 1E+1
        "bool": lambda value: "true" if value else "false",
        "datetime": moment,
        "date": lambda value: value.isoformat(),
        "time": lambda value: value.isoformat(),
    }


def csv_rows(columns: list[Column], rows: Iterable, *, flush_at: int = 64 * 1024) -> Iterator[bytes]:
    """The header and the rows as CSV, in pieces of about `flush_at` bytes (not a write per row)."""
    writer = csv.writer(Echo())
    convert = csv_converters(timezone.get_default_timezone())
    cells = [(column.get, convert[column.kind]) for column in columns]
    yield writer.writerow([column.header for column in columns]).encode()
    pending, size = [], 0
    for obj in rows:
        line = writer.writerow(["" if (v := get(obj)) is None else to_text(v) for get, to_text in cells])
        pending.append(line)
        size += len(line)
        if size >= flush_at:
            yield "".join(pending).encode()
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode()


def csv_response(columns, queryset, filename) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_rows(columns, queryset.iterator(chunk_size=CHUNK_SIZE)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


# --- XLSX ---------------------------------------------------------------------------


def xlsx_converters(sheet, zone) -> dict[str, Callable[[Any], Any]]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

    def text(value):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(value))[:XLSX_MAX_CELL]
        if value.startswith("=") or value in ERROR_CODES:
            # openpyxl would write a formula (or an error); a string cell is never run.
            cell = WriteOnlyCell(sheet, value)
            cell.data_type = "s"
            return cell
        return value

    def moment(value):
        # Spreadsheets have no time zones: the operators' wall-clock time.
        return timezone.make_naive(value, zone) if timezone.is_aware(value) else value

    def identity(value):
        return value

    return {
        "text": text,
        "json": lambda value: text(to_json(value)),
        "number": identity,
        "decimal": identity,
        "bool": identity,
        "datetime": moment,
        "date": identity,
        "time": identity,
    }


def sheet_title(opts) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", capfirst(str(opts.verbose_name_plural)))[:31]


def write_xlsx(columns: list[Column], rows: Iterable, file, *, title: str) -> None:
    """The header and the rows into `file` as a workbook of one sheet (openpyxl's write-only mode)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(columns, 1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(len(column.header) + 2, 12), 40)
    convert = xlsx_converters(sheet, timezone.get_default_timezone())
    cells = [(column.get, convert[column.kind]) for column in columns]
    bold = Font(bold=True)
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column.header)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    written = 1
    for obj in rows:
        if written == XLSX_MAX_ROWS - 1:
            note = gettext("… cut here: a worksheet holds %(n)d rows; export CSV for the whole list.")
            sheet.append([note % {"n": XLSX_MAX_ROWS}])
            break
        sheet.append([None if (v := get(obj)) is None else to_cell(v) for get, to_cell in cells])
        written += 1
    workbook.save(file)


def xlsx_response(columns, queryset, filename, *, title) -> FileResponse:
    file = tempfile.SpooledTemporaryFile(max_size=XLSX_IN_MEMORY)  # noqa: SIM115 - FileResponse closes it
    try:
        write_xlsx(columns, queryset.iterator(chunk_size=CHUNK_SIZE), file, title=title)
    except BaseException:
        file.close()
        raise
    file.seek(0)
    return FileResponse(file, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)


# --- The view -----------------------------------------------------------------------


def filename_for(opts, extension: str) -> str:
    """`<model>-<YYYYMMDD-HHMMSS>.<extension>`, the time in the operators' zone."""
    now = timezone.localtime(timezone.now(), timezone.get_default_timezone())
    return f"{opts.model_name}-{now:%Y%m%d-%H%M%S}.{extension}"


@require_safe
def export_view(request, model_admin):
    """The list as filtered and searched, as CSV (`format=csv`, the default) or XLSX (`format=xlsx`)."""
    if not may_export(request, model_admin):
        raise PermissionDenied
    format_name = request.GET.get(FORMAT_VAR, "csv")
    if format_name not in FORMATS:
        return HttpResponseBadRequest(
            gettext("Unknown format: ask for format=csv or format=xlsx."), content_type="text/plain; charset=utf-8"
        )
    try:
        queryset = list_queryset(request, model_admin)
    except IncorrectLookupParameters:
        return HttpResponseBadRequest(
            gettext("This list cannot be filtered that way: check the filters in the query string."),
            content_type="text/plain; charset=utf-8",
        )
    opts = model_admin.model._meta
    columns = columns_for(queryset)
    filename = filename_for(opts, format_name)
    if format_name == "xlsx":
        return xlsx_response(columns, queryset, filename, title=sheet_title(opts))
    return csv_response(columns, queryset, filename)

"""Exports: every event and outbound list as CSV and XLSX, as filtered and searched on its page, for those allowed."""

import csv
import html
import io
import re
import time
import tracemalloc
from datetime import datetime, timedelta

import openpyxl
import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.utils import timezone

from console import exports
from hub.outbound import insert_rows
from hub.testing import load_payload, post_callback
from sms.models import DeliveryReport, OutboundMessage
from sms.services import queue_sms

pytestmark = pytest.mark.django_db

LIST = "/admin/sms/deliveryreport/"
EXPORT = LIST + "export/"


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8"))))


def sheet_of(response):
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return workbook.worksheets[0]


def column(rows, header) -> list:
    index = list(rows[0]).index(header)
    return [row[index] for row in rows[1:]]


def report(phone_number="+254711000001", **values) -> DeliveryReport:
    values = {"status": "Success", "phone_number": phone_number, "phone_e164": phone_number, **values}
    return DeliveryReport.objects.create(**values)


def staff(username, *permissions) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    for name in permissions:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


@pytest.fixture
def reports():
    """Reports of two networks and statuses, some of them a week old, for one phone or another."""
    week_ago = timezone.now() - timedelta(days=7)
    rows = [
        report(at_message_id="ATXid_1", status="Failed", network_code="63902", phone_number="+254711000001"),
        report(at_message_id="ATXid_2", status="Failed", network_code="63902", phone_number="+254722000002"),
        report(at_message_id="ATXid_3", status="Failed", network_code="62130", phone_number="+254711000003"),
        report(at_message_id="ATXid_4", status="Success", network_code="63902", phone_number="+254711000004"),
        report(at_message_id="ATXid_5", status="Failed", network_code="63902", phone_number="+254711000005"),
        report(at_message_id="ATXid_6", status="Failed", network_code="63902", phone_number="+254711000006"),
    ]
    DeliveryReport.objects.filter(at_message_id__in=["ATXid_5"]).update(received_at=week_ago)
    return rows


# --- The rows of the list as filtered and searched ----------------------------------------------


def test_the_export_buttons_download_exactly_the_rows_the_filtered_and_searched_list_shows(staff_client, reports):
    # Filters, a search, and the third column (after the checkbox: AT id, status, phone number) descending.
    query = "?status=Failed&network_code=63902&q=25471100&o=-3"
    page = staff_client.get(LIST + query)
    shown = [obj.pk for obj in page.context["cl"].result_list]
    assert len(shown) == 3  # Failed on 63902 with a number starting +25471100: reports 1, 5 and 6
    csv_url, xlsx_url = re.findall(r'href="([^"]+)" class="exportlink', page.content.decode())
    assert csv_url.startswith(EXPORT + "?") and "format=csv" in csv_url and "q=25471100" in csv_url
    assert "format=xlsx" in xlsx_url and "status=Failed" in xlsx_url and "o=-3" in xlsx_url

    rows = csv_of(staff_client.get(html.unescape(csv_url)))
    assert [int(pk) for pk in column(rows, "ID")] == shown  # the same rows, in the same order
    assert column(rows, "Phone number") == ["+254711000006", "+254711000005", "+254711000001"]

    sheet = list(sheet_of(staff_client.get(html.unescape(xlsx_url))).values)
    assert [pk for pk in column(sheet, "ID")] == shown


def test_the_date_drill_down_and_the_changelists_queryset_apply_to_the_export(staff_client, reports):
    today = timezone.localdate()
    query = f"?received_at__year={today.year}&received_at__month={today.month}&received_at__day={today.day}"
    cl = staff_client.get(LIST + query).context["cl"]
    rows = csv_of(staff_client.get(EXPORT + query + "&format=csv"))
    assert [int(pk) for pk in column(rows, "ID")] == list(cl.queryset.values_list("pk", flat=True))
    assert "ATXid_5" not in column(rows, "AT message id")  # a week old
    assert len(rows) == 1 + 5


def test_the_page_number_of_the_list_is_not_a_filter(staff_client, reports):
    rows = csv_of(staff_client.get(EXPORT + "?p=2&format=csv"))  # there is no page 2: the whole list anyway
    assert len(rows) == 1 + len(reports)


def test_the_script_url_answers_csv_by_default_and_names_the_file_after_the_model_and_the_time(
    staff_client, reports, settings
):
    settings.TIME_ZONE = "Africa/Nairobi"
    response = staff_client.get(EXPORT)
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    name = re.fullmatch(r'attachment; filename="deliveryreport-(\d{8}-\d{6})\.csv"', response["Content-Disposition"])
    assert name, response["Content-Disposition"]
    moment = datetime.strptime(name.group(1), "%Y%m%d-%H%M%S")
    nairobi = timezone.localtime(timezone.now(), timezone.get_default_timezone()).replace(tzinfo=None)
    assert abs(nairobi - moment) < timedelta(minutes=1)  # the operators' clock, not UTC
    xlsx = staff_client.get(EXPORT + "?format=xlsx")
    assert xlsx["Content-Type"] == exports.XLSX_CONTENT_TYPE
    assert re.fullmatch(r'attachment; filename="deliveryreport-\d{8}-\d{6}\.xlsx"', xlsx["Content-Disposition"])


# --- Columns ------------------------------------------------------------------------------------


def test_columns_are_the_fields_with_times_in_the_operators_zone_money_as_decimals_and_choices_as_stored(
    staff_client, client, settings
):
    settings.TIME_ZONE = "Africa/Nairobi"
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))  # sent 10:15:03 UTC
    rows = csv_of(staff_client.get("/admin/sms/inboundmessage/export/?format=csv"))
    header, row = rows
    assert header[:4] == ["ID", "AT id", "From", "From (E.164)"]  # the callback's own columns first
    assert header.index("Received at") > header.index("Currency")  # then what every callback has
    values = dict(zip(header, row, strict=True))
    assert values["Date"] == "2026-11-27T13:15:03+03:00"
    assert (values["Cost"], values["Currency"]) == ("0.8000", "KES")
    assert values["Processing state"] == "processed"
    assert values["Text"] == "Habari! Nataka kujua salio 💡"
    assert '"linkId":"SampleLinkId123"' in values["Payload"]

    sheet = list(sheet_of(staff_client.get("/admin/sms/inboundmessage/export/?format=xlsx")).values)
    cells = dict(zip(sheet[0], sheet[1], strict=True))
    assert cells["Date"] == datetime(2026, 11, 27, 13, 15, 3)  # a date-time the spreadsheet sorts, Nairobi's
    assert cells["Cost"] == pytest.approx(0.8) and cells["Currency"] == "KES"


def test_a_foreign_key_is_its_id_with_its_text_when_the_list_joins_it(staff_client):
    message = queue_sms(["+254711000001"], "Hello").messages.get()
    OutboundMessage.objects.filter(pk=message.pk).update(at_message_id="ATXid_m")
    message.refresh_from_db()
    report(at_message_id="ATXid_m", message=message)
    report(at_message_id="ATXid_unmatched")
    rows = csv_of(staff_client.get(EXPORT + "?o=1"))  # AT message id ascending
    assert column(rows, "Message (id)") == [str(message.pk), ""]
    # DeliveryReportAdmin reads the message with the row; its text starts with "+2547...: ", neutralised
    assert column(rows, "Message") == ["'" + str(message), ""]


# --- Formulas -----------------------------------------------------------------------------------


FORMULAS = ['=HYPERLINK("http://evil","x")', "@SUM(1)", "-2+3+cmd|' /C calc'!A0", "+SUM(A1)", "\t=1", "#N/A"]


def test_text_a_spreadsheet_would_run_as_a_formula_is_neutralised(staff_client, client):
    for n, text in enumerate(FORMULAS):
        payload = {**load_payload("sms", "inbound_message"), "id": f"formula-{n}", "text": text}
        assert post_callback(client, "/api/sms/twoway", payload).status_code == 200
    url = "/admin/sms/inboundmessage/export/?format="

    rows = csv_of(staff_client.get(url + "csv"))
    texts = dict(zip(column(rows, "AT id"), column(rows, "Text"), strict=True))
    assert texts["formula-0"] == "'" + FORMULAS[0]
    assert texts["formula-1"] == "'@SUM(1)"
    assert texts["formula-2"] == "'-2+3+cmd|' /C calc'!A0"
    assert texts["formula-3"] == "'+SUM(A1)"
    assert texts["formula-4"] == "'\t=1"
    assert texts["formula-5"] == "#N/A"  # not a formula
    assert set(column(rows, "From")) == {"+254711000001"}  # a bare signed number stays as it is

    sheet = sheet_of(staff_client.get(url + "xlsx"))
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    assert [cell.coordinate for cell in cells if cell.data_type == "e"] == []  # "#N/A" is text, not an error
    values = list(sheet.values)
    assert sorted(column(values, "Text")) == sorted(FORMULAS)  # the text itself, as a string cell


# --- Who may ------------------------------------------------------------------------------------


def test_staff_without_the_permission_see_no_buttons_and_are_refused(client, reports):
    client.force_login(staff("clerk", "sms.view_deliveryreport"))
    page = client.get(LIST)
    assert page.status_code == 200
    assert b"Export CSV" not in page.content and b"exportlink" not in page.content
    assert client.get(EXPORT + "?format=csv").status_code == 403
    assert client.get(EXPORT + "?format=xlsx").status_code == 403


def test_exporting_a_list_also_needs_the_right_to_view_it(client, reports):
    client.force_login(staff("exporter", "console.export_lists"))
    assert client.get(EXPORT).status_code == 403


def test_at_viewers_may_export(client, reports):
    user = staff("viewer")
    user.groups.add(Group.objects.get(name="AT viewers"))
    client.force_login(user)
    page = client.get(LIST)
    assert b"Export CSV" in page.content and b"Export XLSX" in page.content
    response = client.get(EXPORT + "?format=csv")
    assert response.status_code == 200 and len(csv_of(response)) == 1 + len(reports)


def test_the_export_url_needs_a_staff_session(client, reports):
    response = client.get(EXPORT + "?format=csv")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Bad requests -------------------------------------------------------------------------------


def test_a_filter_the_list_does_not_know_answers_400(staff_client, reports):
    assert staff_client.get(EXPORT + "?no_such_field=1&format=csv").status_code == 400
    assert staff_client.get(EXPORT + "?received_at__gte=yesterday&format=xlsx").status_code == 400
    assert staff_client.get(EXPORT + "?format=pdf").status_code == 400


# --- Every list ---------------------------------------------------------------------------------


def test_every_event_and_outbound_list_is_exported_and_configuration_is_not(staff_client):
    exported = {model._meta.label for model, ma in admin.site._registry.items() if exports.is_exportable(ma)}
    assert exported == {
        "sms.DeliveryReport",
        "sms.InboundMessage",
        "sms.OptOutEvent",
        "sms.SubscriptionEvent",
        "sms.OptOut",
        "sms.Subscription",
        "sms.OutboundMessage",
        "sms.OutboundBatch",
        "voice.Call",
        "voice.Recording",
        "voice.VoiceInstruction",
        "voice.VoiceEvent",
        "voice.OutboundCall",
        "airtime.AirtimeTransaction",
        "airtime.AirtimeValidation",
        "airtime.AirtimeStatusEvent",
        "airtime.DailyAirtimeSpend",
        "simswap.SimSwapCheck",
        "simswap.SimSwapStatusEvent",
        "ussd.UssdSession",
        "ussd.UssdHop",
        "ussd.UssdEnd",
    }
    for label in sorted(exported):
        url = "/admin/{}/{}/".format(*label.lower().split("."))
        assert b'class="exportlink export-csv"' in staff_client.get(url).content, label
        assert staff_client.get(url + "export/?format=csv").status_code == 200, label
        assert staff_client.get(url + "export/?format=xlsx").status_code == 200, label
    assert b"exportlink" not in staff_client.get("/admin/ussd/menu/").content


# --- Bounded memory -----------------------------------------------------------------------------

ROWS = 100_000


def report_row(payload, n) -> dict:
    phone, at_id = f"+2547{n:08d}", f"ATXid_{n:032d}"
    return {
        "at_message_id": at_id,
        "phone_number": phone,
        "phone_e164": phone,
        "payload": {**payload, "id": at_id, "phoneNumber": phone},
    }


def test_a_list_of_100000_rows_streams_in_bounded_memory(staff_client):
    payload = load_payload("sms", "delivery_report_failed")
    now = timezone.now()
    created = time.perf_counter()
    common = {
        "status": "Failed",
        "network_code": "63902",
        "failure_reason": "UserInBlackList",
        "retry_count": 0,
        "content_type": "application/x-www-form-urlencoded",
        "source_ip": "127.0.0.1",
        "received_at": now,
        "last_received_at": now,
    }
    for start in range(0, ROWS, 10_000):  # one multi-row INSERT (PostgreSQL: COPY) per 10,000
        batch = range(start, min(start + 10_000, ROWS))
        insert_rows(DeliveryReport, common, [report_row(payload, n) for n in batch])
    created = time.perf_counter() - created
    started = time.perf_counter()
    tracemalloc.start()
    try:
        response = staff_client.get(EXPORT + "?format=csv&status=Failed")
        lines = size = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            size += len(chunk)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started

    assert lines == ROWS + 1  # the header and every row
    assert size > 35 * 1024 * 1024  # the file: about 41 MB
    assert peak < 30 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB for a {size / 2**20:.1f} MB file"
    assert peak < size / 4  # holding every row (or the file) at once could not stay under it
    print(f"\n{ROWS} rows created in {created:.1f} s; {size / 2**20:.1f} MB of CSV in {elapsed:.1f} s (traced)")
    print(f"peak {peak / 2**20:.1f} MB")

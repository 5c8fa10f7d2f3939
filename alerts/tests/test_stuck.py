"""The stuck-message report: SMS without a final delivery report after N hours, by network and sender, exported for AT.

Messages are sent through the service and moved on as AT's answer and its
delivery reports (posted to their URL) leave them; staff read the page through
the admin, as themselves.
"""

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import AlertKind, AlertRule
from hub.groups import VIEWERS
from hub.testing import load_payload, post_callback
from sms.models import OutboundMessage
from sms.services import queue_sms

pytestmark = pytest.mark.django_db

URL = "/admin/stuck-messages/"
NAIROBI = ZoneInfo("Africa/Nairobi")


@pytest.fixture(autouse=True)
def operators_zone(settings):
    settings.TIME_ZONE = "Africa/Nairobi"


@pytest.fixture
def viewer(client):
    """Staff in the viewers' group (they may view outbound messages, nothing more), logged in."""
    user = get_user_model().objects.create_user("vera", "vera@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=VIEWERS))
    assert user.has_perm("sms.view_outboundmessage")
    client.force_login(user)
    return client


def sent(numbers, *, sender="", ago=timedelta(hours=8), status="submitted"):
    """Messages AT took `ago` (AT's message id set, as its send answer leaves them)."""
    batch = queue_sms(numbers, "Hello", sender=sender)
    messages = list(batch.messages.order_by("pk"))
    for message in messages:
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=status, at_message_id=f"ATXid_stuck_{message.pk}", submitted_at=timezone.now() - ago
        )
    return [OutboundMessage.objects.get(pk=m.pk) for m in messages]


def report(client, message, status, network="63902", **extra):
    data = {**load_payload("sms", "delivery_report"), "id": message.at_message_id, "phoneNumber": message.phone}
    data.update(status=status, networkCode=network, **extra)
    assert post_callback(client, "/api/sms/delivery-reports", data).status_code == 200


def table(page) -> list[list[str]]:
    import re
    from html import unescape

    html = page.content.decode()
    body = html.split('id="stuck-groups"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body.split("<tbody>", 1)[1], re.S)
    cells = [re.findall(r"<td>(.*?)</td>", row, re.S) for row in rows]
    return [[unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in row] for row in cells]


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- The page ---------------------------------------------------------------------------------------------


def test_stuck_messages_are_grouped_by_network_and_sender_with_counts_and_the_oldest(client, viewer):
    safaricom = sent(["+254711000001", "+254711000002"], sender="MyBrand", ago=timedelta(hours=9))
    airtel = sent(["+254731000003"], sender="MyBrand", ago=timedelta(hours=7))
    unreported = sent(["+254711000004", "+254711000005", "+254711000006"], ago=timedelta(hours=8))
    for message in safaricom:
        report(client, message, "Sent")  # AT's interim word: still waiting for the final one
    report(client, airtel[0], "Buffered", network="63903")
    # Not stuck: delivered, failed, submitted an hour ago, still queued.
    done = sent(["+254711000007", "+254711000008"], sender="MyBrand", ago=timedelta(hours=9))
    report(client, done[0], "Success")
    report(client, done[1], "Failed", failureReason="UserInBlacklist")
    sent(["+254711000009"], ago=timedelta(hours=1))
    queue_sms(["+254711000010"], "Queued")

    page = viewer.get(URL, {"hours": "6"})
    assert page.status_code == 200
    oldest = timezone.localtime(OutboundMessage.objects.get(pk=safaricom[0].pk).submitted_at, NAIROBI)
    assert table(page) == [
        ["unknown network", "AFRICASTKNG (AT's default)", "3", _local(unreported[0]), "CSV for AT support"],
        ["Safaricom KE (63902)", "MyBrand", "2", _local(safaricom[0]), "CSV for AT support"],
        ["Airtel KE (63903)", "MyBrand", "1", _local(airtel[0]), "CSV for AT support"],
    ]
    html = page.content.decode()
    assert "6 messages stuck" in html and "Africa/Nairobi" in html
    assert f"{oldest:%H:%M}" in html
    for number in ("+254711000001", "254711000001", "0711000001"):
        assert number not in html  # numbers only in the export


def _local(message) -> str:
    """The admin's DATETIME_FORMAT of the message's submission, in the operators' zone (Nairobi, UTC+3)."""
    from django.utils.dateformat import format as date_format
    from django.utils.formats import get_format

    return date_format(timezone.localtime(message.submitted_at, NAIROBI), get_format("DATETIME_FORMAT"))


def test_hours_defaults_to_the_stuck_rule_window_and_can_be_changed(viewer):
    AlertRule.objects.filter(kind=AlertKind.STUCK_SENT).update(window_minutes=180)
    sent(["+254711000001"], ago=timedelta(hours=4))
    sent(["+254711000002"], ago=timedelta(hours=2))
    default = viewer.get(URL)
    assert 'value="3"' in default.content.decode()
    assert [row[2] for row in table(default)] == ["1"]
    assert [row[2] for row in table(viewer.get(URL, {"hours": "1.5"}))] == ["2"]
    assert "No message has waited more than 5 hours" in viewer.get(URL, {"hours": "5"}).content.decode()


@pytest.mark.parametrize(("minutes", "shown"), [(600, "10"), (90, "1.5"), (20, "0.33")])
def test_hours_are_shown_as_people_write_them(viewer, minutes, shown):
    AlertRule.objects.filter(kind=AlertKind.STUCK_SENT).update(window_minutes=minutes)
    html = viewer.get(URL).content.decode()
    assert f'value="{shown}"' in html and f"Default: {shown} hours" in html
    assert 'value="20"' in viewer.get(URL, {"hours": "2E+1"}).content.decode()


def test_without_a_stuck_rule_the_default_is_six_hours(viewer):
    AlertRule.objects.filter(kind=AlertKind.STUCK_SENT).delete()
    assert 'value="6"' in viewer.get(URL).content.decode()


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"hours": "six"}, "hours must be a number of hours"),
        ({"hours": "-1"}, "hours must be from 0 to"),
        ({"hours": "NaN"}, "hours must be from 0 to"),
        ({"hours": "1e9"}, "hours must be from 0 to"),
        ({"format": "pdf"}, "format must be csv or xlsx"),
    ],
)
def test_bad_input_is_a_400_naming_it(viewer, query, error):
    response = viewer.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"].startswith(error)


def test_only_staff_who_may_view_messages_see_it_or_its_export(client):
    sent(["+254711000001"])
    nobody = get_user_model().objects.create_user("nobody", "n@example.com", "pw", is_staff=True)
    client.force_login(nobody)
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"format": "csv"}).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302  # to the login page


def test_the_counts_link_to_the_messages_list(viewer):
    sent(["+254711000001", "+254711000002"], sender="MyBrand")
    sent(["+254711000003"], ago=timedelta(hours=1))
    html = viewer.get(URL).content.decode()
    link = html.split('<td><a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    listing = viewer.get(link)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2


# --- The export for AT support ------------------------------------------------------------------------------


def test_the_csv_lists_message_ids_numbers_and_send_times_oldest_first(client, viewer):
    older = sent(["+254711000001"], sender="MyBrand", ago=timedelta(hours=10))[0]
    newer = sent(["+254711000002"], sender="MyBrand", ago=timedelta(hours=7))[0]
    report(client, newer, "Sent")
    sent(["+254711000003"], ago=timedelta(hours=1))  # not stuck
    response = viewer.get(URL, {"hours": "6", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="stuck-messages-')
    rows = rows_of(response)
    assert [(r["AT message id"], r["Phone number"], r["Network"], r["Status"]) for r in rows] == [
        (older.at_message_id, "+254711000001", "unknown network", "submitted"),
        (newer.at_message_id, "+254711000002", "Safaricom KE (63902)", "sent"),
    ]
    submitted = datetime.fromisoformat(rows[0]["Submitted at"])
    assert submitted.utcoffset() == timedelta(hours=3)  # the operators' zone
    assert submitted == older.submitted_at
    assert rows[0]["Sender id"] == "MyBrand" and rows[0]["Our id"] == str(older.pk)


def test_a_groups_csv_holds_that_network_and_sender_only(client, viewer):
    reported = sent(["+254711000001"], sender="MyBrand")[0]
    report(client, reported, "Sent")
    sent(["+254711000002"], sender="MyBrand")  # no report: unknown network
    sent(["+254711000003"])  # another sender
    page = viewer.get(URL)
    links = [part.split('"', 1)[0].replace("&amp;", "&") for part in page.content.decode().split('<a href="?')[1:]]
    by_group = {}
    for link in links:
        if "network=" in link:
            rows = rows_of(viewer.get(f"{URL}?{link}"))
            by_group[link] = [r["Phone number"] for r in rows]
    assert sorted(by_group.values()) == [["+254711000001"], ["+254711000002"], ["+254711000003"]]


def test_the_xlsx_has_the_same_rows(viewer):
    from openpyxl import load_workbook

    message = sent(["+254711000001"], sender="MyBrand")[0]
    response = viewer.get(URL, {"format": "xlsx"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header, row = list(sheet.iter_rows(values_only=True))
    assert header[:3] == ("AT message id", "Phone number", "Sender id")
    assert row[:3] == (message.at_message_id, "+254711000001", "MyBrand")
    naive = timezone.make_naive(message.submitted_at, NAIROBI)
    assert abs(row[header.index("Submitted at")] - naive) < timedelta(seconds=1)  # the operators' wall clock


# --- Bounded queries ------------------------------------------------------------------------------------------


def _queries(client, viewer, n: int, query) -> int:
    OutboundMessage.objects.all().delete()
    for i in range(n):
        message = sent([f"+2547110{i:05d}"], sender=f"S{i % 5}")[0]
        if i % 2:
            report(client, message, "Sent", network="63902" if i % 4 == 1 else "63903")
    with CaptureQueriesContext(connection) as captured:
        response = viewer.get(URL, query)
        if response.streaming:
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("query", [{}, {"format": "csv"}, {"format": "xlsx"}])
def test_the_page_and_the_export_run_as_many_queries_for_n_as_for_2n_messages(client, viewer, query):
    assert _queries(client, viewer, 20, query) == _queries(client, viewer, 40, query)


def test_the_stuck_in_sent_incident_links_to_the_report(viewer):
    from alerts import incidents
    from alerts.models import Incident

    stuck_rule = AlertRule.objects.get(kind=AlertKind.STUCK_SENT)
    AlertRule.objects.filter(pk=stuck_rule.pk).update(window_minutes=90, min_count=1, enabled=True)
    sent(["+254711000001", "+254711000002"], sender="MyBrand", ago=timedelta(hours=2))
    incidents.evaluate(AlertRule.objects.filter(pk=stuck_rule.pk))
    incident = Incident.objects.get(rule=stuck_rule, resolved_at__isnull=True)
    assert incident.link == "/admin/stuck-messages/?hours=1.5"
    page = viewer.get(incident.link)
    assert [row[:3] for row in table(page)] == [["unknown network", "MyBrand", "2"]]

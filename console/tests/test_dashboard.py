"""The dashboard: figures from the rollups for the operators' day, linked to the lists behind them."""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from console import dashboard, rollups
from console.models import Rollup
from hub.testing import load_payload, post_callback
from sms.models import OutboundMessage
from sms.services import queue_sms

pytestmark = pytest.mark.django_db


def test_dashboard_counts_todays_sms_by_status_from_the_rollups(staff_client, client):
    batch = queue_sms(["+254711000001", "+254711000002", "+254711000003"], "Hi")
    first, second, _queued = batch.messages.order_by("pk")
    now = timezone.now()
    OutboundMessage.objects.filter(pk=first.pk).update(
        status="delivered", submitted_at=now - timedelta(seconds=8), delivered_at=now, cost=Decimal("0.8"),
        cost_currency="KES",
    )  # fmt: skip
    OutboundMessage.objects.filter(pk=second.pk).update(status="failed", failure_reason="UserInBlackList")
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    rollups.refresh()
    data = staff_client.get("/admin/dashboard/data/?period=today").json()
    assert (data["sms"]["sent"], data["sms"]["delivered"], data["sms"]["failed"]) == (2, 1, 1)
    assert data["sms"]["pending"] == 1 and data["sms"]["delivery_rate"] == 0.5  # the third is still queued
    assert data["sms"]["cost"] == {"KES": "0.8000"}
    assert data["sms"]["latency_seconds"]["p50"] == 10  # 8 s falls in the "at most 10 s" bucket
    assert data["sms"]["failure_reasons"][0]["reason"] == "UserInBlackList"
    assert "blocked" in data["sms"]["failure_reasons"][0]["meaning"]
    assert data["inbound"]["received"] == 1
    page = staff_client.get("/admin/")
    assert page.status_code == 200
    assert b'data-figure="sms.delivered"' in page.content


def test_every_product_has_its_figures(staff_client, client, settings):
    from airtime.services import queue_airtime
    from simswap.services import queue_checks

    settings.AT_VOICE_NUMBER = "+254711082000"
    post_callback(client, "/api/ussd/session", load_payload("ussd", "session"))
    post_callback(client, "/api/ussd/status", load_payload("ussd", "end"))
    post_callback(client, "/api/voice/events", load_payload("voice", "event"))  # an inbound call, 42 s, KES 1.40
    queue_airtime(["+254711000001", "+254711000002"], "10", "KES")
    queue_checks(["+254711000001"])
    post_callback(client, "/api/sms/opt-out", load_payload("sms", "opt_out"))
    post_callback(client, "/api/sms/delivery-reports", {"id": "x"}, token_value="wrong")  # refused, counted
    rollups.refresh()
    data = staff_client.get("/admin/dashboard/data/?period=today").json()
    assert data["ussd"]["sessions"] == 1 and data["ussd"]["mean_hops"] == 1.0
    assert data["voice"]["calls"] == 1 and data["voice"]["inbound"] == 1 and data["voice"]["answered_rate"] == 1
    assert data["voice"]["minutes"] == 0.7 and data["voice"]["cost"] == {"KES": "1.4000"}
    assert data["airtime"]["sent"] == {"KES": 2, "UGX": 0} and data["airtime"]["transactions"] == 2  # configured
    assert data["airtime"]["by_currency"]["KES"]["amount"] == "20.0000"
    assert data["airtime"]["by_currency"]["KES"]["daily_limit"] == "100000"
    assert data["simswap"]["checks"] == 1
    assert data["inbound"]["opt_outs"] == 1
    reports = next(c for c in data["callbacks"] if c["kind"] == "sms.delivery-reports")
    assert (reports["received"], reports["refused"], reports["last_received"]) == (0, 1, None)
    ussd = next(c for c in data["callbacks"] if c["kind"] == "ussd.session")
    assert ussd["received"] == 1 and ussd["last_received"] is not None
    assert data["period"]["time_zone"] == settings.TIME_ZONE


def test_each_figure_links_to_the_list_behind_it(staff_client):
    batch = queue_sms(["+254711000001", "+254711000002"], "Hi")
    OutboundMessage.objects.filter(pk=batch.messages.order_by("pk")[0].pk).update(status="delivered")
    rollups.refresh()
    links = staff_client.get("/admin/dashboard/data/").json()["links"]
    listed = staff_client.get(links["sms.delivered"])
    assert listed.status_code == 200
    assert list(listed.context["cl"].queryset.values_list("status", flat=True)) == ["delivered"]
    assert staff_client.get(links["sms.sent"]).context["cl"].queryset.count() == 2


def test_periods_are_days_in_the_operators_zone(settings):
    settings.TIME_ZONE = "Africa/Nairobi"
    nairobi = ZoneInfo("Africa/Nairobi")
    now = datetime(2026, 12, 2, 1, 30, tzinfo=nairobi)  # 22:30 UTC the day before
    with timezone.override(nairobi):
        today = dashboard.Period.named("today", now)
        week = dashboard.Period.named("7d", now)
    assert today.start == datetime(2026, 12, 2, 0, 0, tzinfo=nairobi)
    assert week.start == datetime(2026, 11, 26, 0, 0, tzinfo=nairobi)
    assert len(today.buckets()) == 2 and len(week.buckets()) == 7


def test_a_message_created_before_local_midnight_is_not_today(settings, staff_client):
    settings.TIME_ZONE = "Africa/Nairobi"
    batch = queue_sms(["+254711000001"], "Late last night")
    local_midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    OutboundMessage.objects.filter(batch=batch).update(created_at=local_midnight - timedelta(minutes=30))
    rollups.rebuild(local_midnight - timedelta(days=1))
    today = staff_client.get("/admin/dashboard/data/?period=today").json()
    week = staff_client.get("/admin/dashboard/data/?period=7d").json()
    assert today["sms"]["created"] == 0 and week["sms"]["created"] == 1


def test_rollups_are_recomputed_not_added_twice():
    queue_sms(["+254711000001", "+254711000002"], "Hi")
    rollups.refresh()
    rollups.refresh()
    assert Rollup.objects.get(metric="sms", dimension="queued", granularity="hour").count == 2
    assert Rollup.objects.get(metric="sms", dimension="queued", granularity="day").count == 2
    OutboundMessage.objects.update(status="delivered")
    rollups.refresh()
    assert list(Rollup.objects.filter(metric="sms").values_list("dimension", "count")) == [("delivered", 2)] * 2


def test_rebuild_rollups_recomputes_older_hours():
    batch = queue_sms(["+254711000001"], "Old")
    OutboundMessage.objects.filter(batch=batch).update(created_at=timezone.now() - timedelta(days=10))
    rollups.refresh()  # two days only
    assert not Rollup.objects.filter(metric="sms").exists()
    out = StringIO()
    call_command("rebuild_rollups", "--days", "31", stdout=out)
    assert Rollup.objects.get(metric="sms", granularity="day").count == 1
    assert "figure(s) written for the last 31 day(s)" in out.getvalue()


def test_the_series_are_per_hour_today_and_per_day_otherwise(staff_client):
    queue_sms(["+254711000001"], "Hi")
    rollups.refresh()
    today = staff_client.get("/admin/dashboard/data/?period=today").json()["series"]
    month = staff_client.get("/admin/dashboard/data/?period=30d").json()["series"]
    assert len(today["labels"]) == timezone.localtime().hour + 1 and today["labels"][0] == "00:00"
    assert sum(today["volumes"]["sms"]) == 1 and len(month["labels"]) == 30
    assert sum(month["volumes"]["sms"]) == 1


def test_the_dashboard_reads_rollups_with_as_many_queries_for_2n_rows(staff_client):
    def measured():
        rollups.refresh()
        staff_client.get("/admin/")  # warm per-process caches
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get("/admin/?period=30d").status_code == 200
        return len(captured)

    queue_sms([f"+2547110000{i:02d}" for i in range(5)], "Hi")
    at_n = measured()
    queue_sms([f"+2547110001{i:02d}" for i in range(10)], "Hi")
    assert measured() == at_n


def test_the_json_needs_a_staff_session(client):
    response = client.get("/admin/dashboard/data/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db(transaction=True)
def test_recent_send_errors_are_failed_calls_to_at_not_failed_deliveries(staff_client, settings):
    import responses

    from hub.testing import run_worker

    settings.AT_API_URL, settings.AT_API_KEY = "http://at.stub", "k"
    batch = queue_sms(["+254711000001"], "Hi")
    OutboundMessage.objects.create(batch=batch, phone="+254711000002", text="Hi", status="failed",
                                   failure_reason="UserInBlackList")  # a delivery report's failure, not AT's
    with responses.RequestsMock() as mock:
        mock.post("http://at.stub/version1/messaging", body="Service Unavailable", status=503)
        run_worker()
    errors = staff_client.get("/admin/dashboard/data/").json()["health"]["send_errors"]
    assert [(e["status"], e["rows"]) for e in errors] == [("unknown", 1)]
    assert "503" in errors[0]["failure_reason"]

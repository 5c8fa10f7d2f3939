"""The dashboard: figures from the rollups for the operators' day, linked to the lists behind them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from atproject.testing import load_payload, post_callback
from console import rollups
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
    )
    OutboundMessage.objects.filter(pk=second.pk).update(status="failed", failure_reason="UserInBlackList")
    post_callback(client, "/api/sms/twoway", load_payload("sms", "inbound_message"))
    rollups.refresh()
    data = staff_client.get("/admin/dashboard/data/?period=today").json()
    assert (data["sms"]["sent"], data["sms"]["delivered"], data["sms"]["failed"]) == (2, 1, 1)
    assert data["sms"]["pending"] == 1 and data["sms"]["delivery_rate"] == 0.5  # the third is still queued
    assert data["sms"]["cost"] == {"KES": "0.8000"}
    assert data["sms"]["latency_seconds"]["p50"] == 10
    assert data["sms"]["failure_reasons"][0]["reason"] == "UserInBlackList"
    assert "blocked" in data["sms"]["failure_reasons"][0]["meaning"]
    assert data["inbound"]["received"] == 1
    page = staff_client.get("/admin/")
    assert page.status_code == 200
    assert b'data-figure="sms.delivered"' in page.content

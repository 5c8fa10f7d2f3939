"""Every admin list and detail page renders for staff with as many queries at 2N rows as at N.

"At most 15 queries" with 3 rows let an N+1 through (a menu page made 19
queries with 2 screens and 90 with 20). Here every page is measured twice on
the same data grown from N to 2N: more rows in every list, and more children
(reports, hops, events, screens, options, messages) under the first row of
every detail page.
"""

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from hub.callbacks.registry import kinds
from hub.testing import post_callback
from hub.tests.test_ingestion import fixture_for
from webhooks.tests.growth import grow_webhooks

pytestmark = pytest.mark.django_db

MODELS = sorted(site._registry, key=lambda m: m._meta.label)
N = 3


def grow(client, start: int, count: int) -> None:
    """Rows `start` to `start + count` of everything: new rows in each list, new children of the first rows."""
    from airtime.models import AirtimeTransaction
    from airtime.services import queue_airtime
    from simswap.services import queue_checks
    from sms.models import AutoReplyRule, OutboundBatch, OutboundMessage
    from sms.services import queue_sms
    from ussd.models import Menu, Option, Screen, ScreenAction
    from voice.models import KeyAction, KeypadOption, VoiceFlow
    from voice.services import queue_calls

    for i in range(start, start + count):
        # Children of the first parents, created first so that they are the first rows of their lists.
        call = {**fixture_for("voice.events"), "isActive": "1", "dtmfDigits": str(i), "callSessionState": f"s{i}"}
        post_callback(client, "/api/voice/events", call)
        post_callback(client, "/api/voice/instruct", {**call, "recordingUrl": f"https://rec.example/{i}.mp3"})
        post_callback(client, "/api/ussd/session", {**fixture_for("ussd.session"), "text": "*".join(["1"] * i)})
        report = {**fixture_for("sms.delivery-reports"), "id": "ATXid_first", "retryCount": str(i)}
        post_callback(client, "/api/sms/delivery-reports", report)
        for kind in kinds().values():
            payload = fixture_for(kind.name)
            for key in ("id", "sessionId", "requestId", "transactionId", "phoneNumber"):
                if key in payload:
                    payload[key] = f"{payload[key]}{i}"
            post_callback(client, kind.path, payload)
        phones = [f"+2547110{i:02d}{j:03d}" for j in range(2)]
        batch = queue_sms(phones, f"Hi {i}")
        first_batch = OutboundBatch.objects.order_by("pk").first()
        OutboundMessage.objects.filter(batch=batch).update(at_message_id="ATXid_first", batch=first_batch)
        queue_sms(phones, f"Hi again {i}")  # a list of batches that grows too
        queue_calls(phones)
        queue_airtime(phones, "10", "KES")
        AirtimeTransaction.objects.filter(pk=AirtimeTransaction.objects.order_by("pk")[0].pk).update(
            at_request_id="ATQid_first"
        )
        status = {**fixture_for("airtime.status"), "requestId": "ATQid_first", "status": f"Pending{i}"}
        post_callback(client, "/api/airtime/status", status, as_json=True)
        queue_checks(phones)
        AutoReplyRule.objects.create(keyword=f"k{i}", reply="Thanks")
    grow_incidents(start, count)
    grow_webhooks(start, count)
    menu = Menu.objects.order_by("pk").first() or Menu.objects.create(name="grown", service_code="*1#")
    flow = VoiceFlow.objects.order_by("pk").first() or VoiceFlow.objects.create(number="+254711082000")
    for i in range(start, start + count):
        screen = Screen.objects.create(menu=menu, name=f"screen {i}", action=ScreenAction.CON, text=f"Screen {i}")
        Option.objects.create(screen=menu.root or screen, input=f"9{i}", next_screen=screen)
        KeypadOption.objects.create(flow=flow, digits=f"{i}", action=KeyAction.SAY, text=f"key {i}")


def grow_incidents(start: int, count: int) -> None:
    """Incidents of a rule (one per key), and notification attempts under the first incident."""
    from django.utils import timezone

    from alerts.models import AlertRule, Channel, Incident, NoticeEvent, NotificationAttempt

    now = timezone.now()
    # The migration's rules, or (after a transactional test flushed them) one of our own.
    rule = AlertRule.objects.order_by("pk").first() or AlertRule.objects.create(name="grown", kind="stuck_sent")
    for i in range(start, start + count):
        Incident.objects.create(
            rule=rule, key=f"key {i}", severity=rule.severity, summary=f"held {i}", opened_at=now, last_seen_at=now
        )
        first = Incident.objects.order_by("pk").first()
        NotificationAttempt.objects.create(
            incident=first, event=NoticeEvent.OPENED, channel=Channel.WEBHOOK, target="hooks.example", at=now
        )


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def pages(model) -> list[str]:
    opts = model._meta
    urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
    first = model.objects.order_by("pk").first()
    if first is not None:
        urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
    return urls


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_list_and_detail_pages_run_as_many_queries_at_2n_rows_as_at_n(staff_client, client, settings, model):
    settings.AT_VOICE_NUMBER = "+254711082000"
    grow(client, 0, N)
    for url in pages(model):  # warm the per-process caches (content types, menus) first
        queries(staff_client, url)
    at_n = {url: queries(staff_client, url) for url in pages(model)}
    grow(client, N, N)
    at_2n = {url: queries(staff_client, url) for url in at_n}
    assert at_2n == at_n
    assert model.objects.count() > 0 or model._meta.label in {"auth.Group", "authtoken.TokenProxy"}

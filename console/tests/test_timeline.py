"""The subscriber timeline: one number's events of every product at /admin/phone/<number>/, newest first, in pages
that arriving rows do not shift, at a fixed number of queries; the search box of every list with phone numbers;
every subscriber's number in the admin a link to it, ours never."""

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from airtime.models import AirtimeTransaction
from airtime.services import queue_airtime
from console import timeline
from hub.testing import load_payload, post_callback
from simswap.models import SimSwapCheck
from simswap.services import queue_checks
from sms.models import (
    AutoReplyRule,
    DeliveryReport,
    InboundMessage,
    OptOut,
    OptOutEvent,
    OutboundBatch,
    OutboundMessage,
    SendSource,
    Subscription,
    SubscriptionEvent,
)
from sms.services import queue_sms
from ussd.models import UssdHop, UssdSession
from voice.models import Call, OutboundCall, VoiceEvent, VoiceInstruction
from voice.services import queue_calls

pytestmark = pytest.mark.django_db

PHONE = "+254711000001"
TIMELINE = "/admin/phone/+254711000001/"
AT_NUMBER = "+254711082000"


@pytest.fixture(autouse=True)
def operators(settings):
    settings.AT_DEFAULT_COUNTRY_CODE = "254"
    settings.AT_VOICE_NUMBER = AT_NUMBER
    settings.TIME_ZONE = "Africa/Nairobi"


def seed(client, i: int = 0, phone: str = PHONE) -> None:
    """The i-th event of every product for `phone`, through AT's callback URLs and the services that send.

    From the second on, each also adds children to the first parents: a delivery report, a hop, a call event.
    """
    batch = queue_sms([phone], f"Hello {i}")
    OutboundMessage.objects.filter(batch=batch).update(at_message_id=f"ATXid_t{i}", status="sent")
    report = {**load_payload("sms", "delivery_report"), "id": f"ATXid_t{i}", "phoneNumber": phone}
    post_callback(client, "/api/sms/delivery-reports", report)
    inbound = {**load_payload("sms", "inbound_message"), "id": f"in-{i}", "from": phone, "text": f"Habari {i}"}
    post_callback(client, "/api/sms/twoway", inbound)
    opt_out = {**load_payload("sms", "opt_out"), "phoneNumber": phone, "senderId": f"S{i}"}
    post_callback(client, "/api/sms/opt-out", opt_out)
    subscription = {**load_payload("sms", "subscription"), "phoneNumber": phone, "keyword": f"NEWS{i}"}
    post_callback(client, "/api/sms/subscription", subscription)
    for text in ("", "1", "1*1"):
        hop = {**load_payload("ussd", "session"), "sessionId": f"ATUid_t{i}", "phoneNumber": phone, "text": text}
        post_callback(client, "/api/ussd/session", hop)
    call = {"sessionId": f"ATVId_t{i}", "callerNumber": phone}
    post_callback(client, "/api/voice/instruct", {**load_payload("voice", "instruct"), **call})
    post_callback(client, "/api/voice/events", {**load_payload("voice", "event"), **call, "dtmfDigits": "1"})
    queue_calls([phone])
    queue_airtime([phone], "10", "KES")
    queue_checks([phone])
    if i:
        again = {**report, "id": "ATXid_t0", "retryCount": str(i)}
        post_callback(client, "/api/sms/delivery-reports", again)
        hop = {**load_payload("ussd", "session"), "sessionId": "ATUid_t0", "phoneNumber": phone, "text": f"1*1*{i}"}
        post_callback(client, "/api/ussd/session", hop)
        event = {**load_payload("voice", "event"), "sessionId": "ATVId_t0", "callerNumber": phone, "isActive": "1"}
        post_callback(client, "/api/voice/events", {**event, "dtmfDigits": str(i), "callSessionState": f"s{i}"})


def change_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


class Forms(HTMLParser):
    """The page's forms: their action and the values of their inputs, textareas and selects."""

    def __init__(self, html: str):
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "data": {}, "attrs": attrs})
        elif tag in ("input", "textarea") and self.forms and attrs.get("name"):
            self.forms[-1]["data"][attrs["name"]] = attrs.get("value", "")
        elif tag == "select" and self.forms:
            self.select = attrs.get("name")
            self.forms[-1]["data"][self.select] = None
        elif tag == "option" and self.forms and (self.forms[-1]["data"][self.select] is None or "selected" in attrs):
            self.forms[-1]["data"][self.select] = attrs.get("value", "")  # the selected option, else the first

    def named(self, **attrs) -> dict:
        return next(f for f in self.forms if all(f["attrs"].get(k) == v for k, v in attrs.items()))


# --- The timeline ---------------------------------------------------------------------------------


def test_the_timeline_lists_every_product_newest_first_each_linking_to_its_row(staff_client, client):
    AutoReplyRule.objects.create(keyword="", reply="Asante")  # the inbound message gets an auto-reply
    seed(client)
    response = staff_client.get("/admin/phone/0711000001/")  # a local number, AT_DEFAULT_COUNTRY_CODE=254
    assert response.status_code == 200
    html = response.content.decode()
    rows = [
        *OutboundMessage.objects.all(),
        DeliveryReport.objects.get(),
        InboundMessage.objects.get(),
        OptOutEvent.objects.get(),
        SubscriptionEvent.objects.get(),
        UssdSession.objects.get(),
        *UssdHop.objects.all(),
        Call.objects.get(),
        VoiceInstruction.objects.get(),
        VoiceEvent.objects.get(),
        OutboundCall.objects.get(),
        AirtimeTransaction.objects.get(),
        SimSwapCheck.objects.get(),
    ]
    assert len(rows) == 16
    for row in rows:
        assert f'href="{change_url(row)}"' in html, row._meta.label
    kinds = re.findall(r'data-kind="([\w-]+)"', html)
    every = "sms-out sms-out sms-in opt-out subscription ussd call call-request airtime sim-swap"
    assert sorted(kinds) == sorted(every.split())
    events = response.context["page"].events
    assert [e.key for e in events] == sorted((e.key for e in events), reverse=True)
    assert kinds[0] == "sim-swap"  # the last one made
    # SMS: the reply marked as an auto-reply to the inbound message, the delivery report under its message.
    assert "Hello 0" in html and "Habari 0" in html and "Asante" in html
    assert str(SendSource.AUTO_REPLY.label) in html and "in reply to “Habari 0”" in html
    assert f'href="{change_url(DeliveryReport.objects.get())}">Success</a>' in html
    # USSD: the transcript, input by input, with the screens sent.
    assert "END Your account number is ACC1001" in html and "CON Choose account information" in html
    # Voice: the call's instructions and events, the call request from our number.
    assert "Ringing" in html and "Completed" in html and "keys 1" in html
    assert f"Call from {AT_NUMBER}" in html
    # The subscriber's state: opted out of S0, subscribed to 8995 / NEWS0, each linking to its row.
    assert f'<a href="{change_url(OptOut.objects.get())}">S0</a>' in html
    assert f'<a href="{change_url(Subscription.objects.get())}">8995 / NEWS0</a>' in html
    # No page links: everything fits on one page.
    assert "?before=" not in html and "?after=" not in html


def test_every_form_of_a_number_shows_the_same_timeline(staff_client, client):
    seed(client)
    for number in ("+254711000001", "254711000001", "0711000001", "0711 000 001", "0711-000-001", "+254 711 000 001"):
        response = staff_client.get(f"/admin/phone/{number}/")
        assert response.status_code == 200, number
        assert response.context["e164"] == PHONE
        assert len(response.context["page"].events) == 9, number


def test_times_are_shown_in_the_operators_zone_with_seconds(staff_client):
    check = queue_checks([PHONE])[0]
    SimSwapCheck.objects.filter(pk=check.pk).update(created_at=datetime(2026, 11, 27, 7, 15, 3, tzinfo=UTC))
    html = staff_client.get(TIMELINE).content.decode()
    assert "27 Nov 2026, 10:15:03 EAT" in html  # Africa/Nairobi is UTC+3


def test_a_number_without_events_is_an_empty_page(staff_client):
    response = staff_client.get("/admin/phone/+254799999999/")
    assert response.status_code == 200
    assert response.context["page"].events == []
    assert "Nothing you may see has happened with this number." in response.content.decode()


def test_a_non_number_is_a_clear_400(staff_client, settings):
    response = staff_client.get("/admin/phone/hello/")
    assert response.status_code == 400
    assert "hello is not a phone number" in response.content.decode()
    settings.AT_DEFAULT_COUNTRY_CODE = ""
    response = staff_client.get("/admin/phone/0711000001/")
    assert response.status_code == 400
    assert "0711000001 is a local number" in response.content.decode()


def test_the_timeline_needs_staff(client, django_user_model):
    assert client.get(TIMELINE).status_code == 302  # to the admin's login
    client.force_login(django_user_model.objects.create_user("someone", password="pw"))
    assert client.get(TIMELINE).status_code == 302


def test_staff_see_only_the_products_they_may_view(client, django_user_model):
    seed(client)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_outboundmessage", "view_inboundmessage"])
    )
    client.force_login(viewer)
    response = client.get(TIMELINE)
    assert response.status_code == 200
    assert sorted(e.kind.key for e in response.context["page"].events) == ["sms-in", "sms-out"]
    html = response.content.decode()
    assert "Hello 0" in html and "ACC1001" not in html
    assert change_url(DeliveryReport.objects.get()) not in html  # no permission on delivery reports
    assert "Opted out of" not in html
    assert response.context["actions"] == [] and response.context["compose"] is None
    nobody = django_user_model.objects.create_user("nobody", password="pw", is_staff=True)
    client.force_login(nobody)
    response = client.get(TIMELINE)
    assert response.status_code == 200
    assert response.context["page"].events == []


def test_the_page_runs_as_many_queries_at_2n_events_of_every_product_as_at_n(staff_client, client):
    n = 2
    for i in range(n):
        seed(client, i)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = staff_client.get(TIMELINE)
        assert response.status_code == 200
        return len(captured)

    queries()  # warm the per-process caches (content types)
    at_n = queries()
    for i in range(n, 2 * n):
        seed(client, i)
    page = staff_client.get(TIMELINE).context["page"]
    assert len(page.events) == 9 * 2 * n  # every product on the page, twice as many of each
    first_session = next(e for e in page.events if e.kind.key == "ussd" and e.obj.session_id == "ATUid_t0")
    assert len(first_session.steps) == 3 + 2 * n - 1  # its children grew too
    assert queries() == at_n


# --- Pages ----------------------------------------------------------------------------------------


def _many_events(count: int, start: datetime) -> None:
    """`count` events each of SMS out, SMS in and SIM swap checks, two per second: many share their time."""
    batch = OutboundBatch.objects.create(source=SendSource.API, text="x")
    times = [start + timedelta(seconds=i // 2) for i in range(count)]
    OutboundMessage.objects.bulk_create(
        OutboundMessage(batch=batch, phone=PHONE, text=f"m{i}", created_at=t) for i, t in enumerate(times)
    )
    SimSwapCheck.objects.bulk_create(SimSwapCheck(phone=PHONE, created_at=t) for t in times)
    InboundMessage.objects.bulk_create(
        InboundMessage(from_number=PHONE, from_e164=PHONE, to_number="8995", text=f"i{i}", received_at=t)
        for i, t in enumerate(times)
    )


def _walk(staff_client, url: str, direction: str) -> list[list[tuple]]:
    pages = []
    while url:
        page = staff_client.get(url).context["page"]
        pages.append([(e.kind.key, e.obj.pk) for e in page.events])
        cursor = page.older if direction == "older" else page.newer
        url = f"{TIMELINE}?{'before' if direction == 'older' else 'after'}={cursor}" if cursor else None
    return pages


def test_pages_of_fifty_older_and_newer_every_event_once(staff_client):
    _many_events(40, datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
    first = staff_client.get(TIMELINE)
    assert f'href="?before={first.context["page"].older}"' in first.content.decode()
    pages = _walk(staff_client, TIMELINE, "older")
    assert [len(p) for p in pages] == [50, 50, 20]
    seen = [key for page in pages for key in page]
    assert len(set(seen)) == len(seen) == 120
    # Newer from the last page gives the same pages back, up to the newest.
    last = staff_client.get(f"{TIMELINE}?before={staff_client.get(TIMELINE).context['page'].older}")
    middle = staff_client.get(f"{TIMELINE}?before={last.context['page'].older}")
    assert [(e.kind.key, e.obj.pk) for e in middle.context["page"].events] == pages[2]
    back = staff_client.get(f"{TIMELINE}?after={middle.context['page'].newer}").context["page"]
    assert [(e.kind.key, e.obj.pk) for e in back.events] == pages[1]
    newest = staff_client.get(f"{TIMELINE}?after={back.newer}").context["page"]
    assert [(e.kind.key, e.obj.pk) for e in newest.events] == pages[0] and newest.newer is None


def test_rows_that_arrive_meanwhile_shift_no_page(staff_client, client):
    _many_events(40, datetime(2026, 11, 27, 7, 0, tzinfo=UTC))
    first = staff_client.get(TIMELINE).context["page"]
    second = staff_client.get(f"{TIMELINE}?before={first.older}").context["page"]
    seed(client)  # nine new events, newer than all
    again = staff_client.get(f"{TIMELINE}?before={first.older}").context["page"]
    assert [(e.kind.key, e.obj.pk) for e in again.events] == [(e.kind.key, e.obj.pk) for e in second.events]
    assert staff_client.get(TIMELINE).context["page"].events[0].kind.key == "sim-swap"


def test_a_page_key_that_is_not_one_shows_the_newest_page(staff_client):
    queue_checks([PHONE])
    for junk in ("x", "1~nothing~2", "abc~sms-out~1", "99999999999999999999999~sms-out~1"):
        response = staff_client.get(f"{TIMELINE}?before={junk}")
        assert response.status_code == 200
        assert len(response.context["page"].events) == 1
    assert timeline.decode_key(timeline.encode_key((datetime(2026, 1, 1, tzinfo=UTC), 3, 42))) == (
        datetime(2026, 1, 1, tzinfo=UTC),
        3,
        42,
    )


# --- Search -----------------------------------------------------------------------------------------


def test_the_search_goes_to_the_timeline_of_the_normalised_number(staff_client):
    response = staff_client.get("/admin/phone/", {"number": "0711 000 001"})
    assert response.status_code == 302 and response["Location"] == TIMELINE
    assert staff_client.get("/admin/phone/", {"number": "254711000001"})["Location"] == TIMELINE
    again = staff_client.get("/admin/phone/", {"number": "not a number"})
    assert again.status_code == 400
    html = again.content.decode()
    assert "not a number is not a phone number" in html and 'value="not a number"' in html
    form = staff_client.get("/admin/phone/")
    assert form.status_code == 200 and 'name="number"' in form.content.decode()


def test_the_dashboards_search_form_leads_to_the_timeline(staff_client):
    html = staff_client.get("/admin/").content.decode()
    dashboard = Forms(html).named(**{"class": "console-phone-search"})
    assert dashboard["action"] == reverse("admin:phone-search")
    assert staff_client.get(dashboard["action"], {"number": "0711000001"})["Location"] == TIMELINE


def test_lists_with_phone_numbers_offer_the_subscriber_search(staff_client):
    for model in (InboundMessage, OutboundMessage, Call, UssdSession, AirtimeTransaction, SimSwapCheck, OptOut):
        opts = model._meta
        html = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode()
        box = Forms(html).named(**{"class": "console-phone-box"})
        assert box["action"] == "/admin/phone/", opts.label
    for model in (OutboundBatch, AutoReplyRule):
        opts = model._meta
        html = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode()
        assert "console-phone-box" not in html, opts.label
    searched = staff_client.get(reverse("admin:sms_outboundmessage_changelist"), {"q": PHONE}).content.decode()
    assert Forms(searched).named(**{"class": "console-phone-box"})["data"]["number"] == PHONE


# --- Actions ------------------------------------------------------------------------------------------


def test_the_actions_post_to_the_lists_actions_which_confirm_first(staff_client, client):
    seed(client)
    forms = Forms(staff_client.get(TIMELINE).content.decode())
    call_back = forms.named(**{"data-action": "call_back"})
    assert call_back["action"] == reverse("admin:voice_call_changelist")  # each from its own product's list
    assert call_back["data"]["_selected_action"] == str(Call.objects.get().pk)
    page = staff_client.post(call_back["action"], call_back["data"])
    assert page.status_code == 200 and "Call these numbers back?" in page.content.decode()
    assert OutboundCall.objects.count() == 1  # nothing done yet
    confirmed = Forms(page.content.decode()).forms[-1]["data"]
    assert staff_client.post(call_back["action"], confirmed).status_code == 302
    assert list(OutboundCall.objects.values_list("phone", flat=True)) == [PHONE, PHONE]

    airtime = forms.named(**{"data-action": "send_airtime"})
    page = staff_client.post(airtime["action"], airtime["data"])
    assert page.status_code == 200 and "Amount per recipient" in page.content.decode()

    check = forms.named(**{"data-action": "check_sim_swap"})
    assert check["action"] == reverse("admin:simswap_simswapcheck_changelist")
    page = staff_client.post(check["action"], check["data"])
    assert "Check these numbers for a SIM swap?" in page.content.decode()
    assert PHONE in page.content.decode()

    compose = forms.named(id="compose-sms")
    assert compose["data"]["numbers"] == PHONE
    page = staff_client.post(compose["action"], {**compose["data"], "text": "Karibu"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Send this SMS?" in html and "1 recipient." in html


def test_a_number_with_only_an_inbound_message_is_acted_on_from_the_inbound_list(staff_client, client):
    post_callback(client, "/api/sms/twoway", {**load_payload("sms", "inbound_message"), "from": PHONE})
    actions = staff_client.get(TIMELINE).context["actions"]
    assert [a["name"] for a in actions] == ["call_back", "send_airtime", "check_sim_swap"]
    assert {a["url"] for a in actions} == {reverse("admin:sms_inboundmessage_changelist")}
    check = next(a for a in actions if a["name"] == "check_sim_swap")
    page = staff_client.post(check["url"], {"action": "check_sim_swap", "_selected_action": check["pk"]})
    assert "Check these numbers for a SIM swap?" in page.content.decode()


def test_no_actions_without_their_permissions(client, django_user_model):
    seed(client)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    viewer.user_permissions.add(Permission.objects.get(codename="add_simswapcheck"))
    client.force_login(viewer)
    response = client.get(TIMELINE)
    assert [a["name"] for a in response.context["actions"]] == ["check_sim_swap"]
    assert response.context["compose"] is None


# --- Phone numbers in the admin ----------------------------------------------------------------------


def test_lists_link_the_subscribers_number_to_the_timeline_and_never_ours(staff_client, client):
    seed(client)
    link = f'href="{TIMELINE}"'
    for model in (InboundMessage, OutboundMessage, Call, UssdSession, AirtimeTransaction, SimSwapCheck, DeliveryReport):
        opts = model._meta
        html = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode()
        assert link in html, opts.label
        # The row's own link stays, outside the number's: a link never holds another.
        assert f'href="{change_url(model.objects.order_by("pk").first())}"' in html, opts.label
        assert not re.search(r'<a href="[^"]*/change/[^"]*"[^>]*>\s*<a', html), opts.label
    for model in (Call, OutboundCall):  # our AT number is shown, as text
        opts = model._meta
        html = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")).content.decode()
        assert AT_NUMBER in html and f'href="/admin/phone/{AT_NUMBER}/"' not in html, opts.label
    html = staff_client.get(reverse("admin:sms_inboundmessage_changelist")).content.decode()
    assert "8995" in html and "/admin/phone/8995/" not in html  # our shortcode


def test_the_linked_columns_keep_their_title_and_ordering(staff_client, client):
    seed(client)
    seed(client, 1, phone="+254711000002")
    url = reverse("admin:sms_outboundmessage_changelist")
    html = staff_client.get(url).content.decode()
    assert re.search(r'<th scope="col" class="sortable column-phone', html)
    assert re.search(r'column-phone">\s*<div class="text"><a href="\?o=1[.\d-]*">Phone</a>', html)
    ordered = staff_client.get(url, {"o": "1"}).context["cl"].result_list
    assert [m.phone for m in ordered] == sorted(m.phone for m in ordered)
    assert len({m.phone for m in ordered}) == 2


def test_detail_pages_link_read_only_numbers(staff_client, client):
    seed(client)
    link = f'href="{TIMELINE}"'
    for obj in (
        OutboundMessage.objects.first(),
        DeliveryReport.objects.get(),
        InboundMessage.objects.get(),
        UssdSession.objects.get(),
        AirtimeTransaction.objects.get(),
        SimSwapCheck.objects.get(),
        OptOut.objects.get(),  # a view-only page whose phone is a form field
        Subscription.objects.get(),
    ):
        response = staff_client.get(change_url(obj))
        assert response.status_code == 200, obj._meta.label
        html = response.content.decode()
        assert link in html, obj._meta.label
    html = staff_client.get(change_url(Call.objects.get())).content.decode()
    assert link in html and AT_NUMBER in html and f'href="/admin/phone/{AT_NUMBER}/"' not in html
    assert '<div class="readonly">' in html and "field-caller_number" in html  # in its place, as the field was
    html = staff_client.get(change_url(OutboundCall.objects.get())).content.decode()
    assert link in html and f'href="/admin/phone/{AT_NUMBER}/"' not in html

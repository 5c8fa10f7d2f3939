"""Incidents: one per rule and key while the condition holds, resolved when it clears; acknowledged by staff;
shown at the top of the dashboard and listed in /healthz."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from alerts import incidents
from alerts.models import AlertKind, AlertRule, Incident
from hub.groups import OPERATORS, VIEWERS
from hub.models import BalanceSnapshot
from hub.testing import database_unavailable

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quiet(settings):
    """AT is never asked (the balance refresh gets a refused connection); nothing remembered from other tests."""
    settings.AT_API_URL = "http://127.0.0.1:9"
    cache.clear()


def balance_rule(**values) -> AlertRule:
    found, _ = AlertRule.objects.update_or_create(
        kind=AlertKind.BALANCE_LOW,
        defaults={"name": "AT balance low", "threshold": Decimal(500), "enabled": True, "severity": "critical",
                  **values},
    )  # fmt: skip
    return found


def low_balance(amount="120"):
    return BalanceSnapshot.objects.create(fetched_at=timezone.now(), amount=Decimal(amount), currency="KES")


def staff(name, group):
    user = get_user_model().objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def test_a_condition_opens_one_incident_holds_it_and_resolves_it():
    rule = balance_rule()
    low_balance()
    assert incidents.evaluate([rule])["opened"] == 1
    assert incidents.evaluate([rule]) == {"opened": 0, "held": 1, "resolved": 0, "failed": 0}
    incident = Incident.objects.get()
    assert incident.is_open and incident.severity == "critical" and incident.key == "KES"
    low_balance("5000")
    assert incidents.evaluate([rule])["resolved"] == 1
    incident.refresh_from_db()
    assert incident.resolved_at is not None and incident.resolved_at >= incident.opened_at


def test_a_condition_that_returns_opens_a_new_incident():
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    low_balance("5000")
    incidents.evaluate([rule])
    low_balance("50")
    incidents.evaluate([rule])
    first, second = Incident.objects.order_by("pk")
    assert first.resolved_at is not None and second.is_open
    assert second.figures["balance"] == "50.0000"


def test_the_database_keeps_one_open_incident_per_rule_and_key():
    from django.db import IntegrityError, transaction

    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    now = timezone.now()
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.create(rule=rule, key="KES", severity="warning", summary="twice", opened_at=now,
                                last_seen_at=now)  # fmt: skip


def test_a_disabled_rule_resolves_its_open_incidents():
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    rule.enabled = False
    rule.save()
    assert incidents.evaluate([rule])["resolved"] == 1
    assert not Incident.objects.filter(resolved_at__isnull=True).exists()


def test_the_migration_gives_operators_the_rules_and_viewers_a_read(client):
    operator, viewer = staff("olive", OPERATORS), staff("victor", VIEWERS)
    for perm in ("change_alertrule", "acknowledge_incident", "send_test_notification", "view_incident"):
        assert operator.has_perm(f"alerts.{perm}")
    assert viewer.has_perm("alerts.view_alertrule") and viewer.has_perm("alerts.view_incident")
    assert not viewer.has_perm("alerts.change_alertrule") and not viewer.has_perm("alerts.acknowledge_incident")
    rule = AlertRule.objects.get(kind=AlertKind.SMS_FAILURE_RATE)
    client.force_login(operator)
    page = client.get(f"/admin/alerts/alertrule/{rule.pk}/change/")
    assert page.status_code == 200
    assert b"Percent not delivered above which the rule fires" in page.content  # what the threshold means here
    data = {"name": rule.name, "kind": rule.kind, "enabled": "on", "severity": "critical", "threshold": "35",
            "window_minutes": "30", "min_count": "100", "scope": "network"}  # fmt: skip
    assert client.post(f"/admin/alerts/alertrule/{rule.pk}/change/", data).status_code == 302
    rule.refresh_from_db()
    assert (rule.threshold, rule.window_minutes, rule.min_count, rule.scope) == (35, 30, 100, "network")
    client.force_login(viewer)
    assert client.get(f"/admin/alerts/alertrule/{rule.pk}/change/").status_code == 200  # read-only
    client.post(f"/admin/alerts/alertrule/{rule.pk}/change/", {**data, "threshold": "1"})
    rule.refresh_from_db()
    assert rule.threshold == 35


def test_operators_acknowledge_an_incident_after_a_confirmation(client):
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    incident = Incident.objects.get()
    operator = staff("olive", OPERATORS)
    client.force_login(operator)
    asked = client.post("/admin/alerts/incident/", {"action": "acknowledge", "_selected_action": [incident.pk]})
    assert asked.status_code == 200 and b"Acknowledge these incidents?" in asked.content
    incident.refresh_from_db()
    assert incident.acknowledged_at is None  # nothing until confirmed
    done = client.post(
        "/admin/alerts/incident/", {"action": "acknowledge", "_selected_action": [incident.pk], "confirm": "yes"}
    )
    assert done.status_code == 302
    incident.refresh_from_db()
    assert incident.acknowledged_by == operator and incident.acknowledged_at is not None
    assert incident.is_open  # still open until the balance is topped up


def test_viewers_cannot_acknowledge(client):
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    incident = Incident.objects.get()
    client.force_login(staff("victor", VIEWERS))
    listing = client.get("/admin/alerts/incident/")
    assert listing.status_code == 200 and b'value="acknowledge"' not in listing.content
    client.post("/admin/alerts/incident/", {"action": "acknowledge", "_selected_action": [incident.pk],
                                            "confirm": "yes"})  # fmt: skip
    incident.refresh_from_db()
    assert incident.acknowledged_at is None


def test_the_dashboard_shows_open_incidents_at_the_top(client, settings):
    settings.TIME_ZONE = "Africa/Nairobi"
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    incident = Incident.objects.get()
    client.force_login(staff("victor", VIEWERS))
    page = client.get("/admin/").content.decode()
    section = page[page.index('id="open-incidents"') :]
    assert page.index('id="open-incidents"') < page.index('id="card-sms"')  # above the figures
    assert "1 open incident" in section and "AT balance low" in section and "Critical" in section
    assert "AT balance KES 120.0000 is below KES 500" in section
    assert timezone.localtime(incident.opened_at).strftime("%H:%M:%S") + " EAT" in section  # operators' zone
    assert f'href="{incident.link}"' in section
    low_balance("5000")
    incidents.evaluate([rule])
    assert "No open incidents." in client.get("/admin/").content.decode()


def test_healthz_lists_open_incidents_and_still_answers_200(client):
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    response = client.get("/healthz")
    assert response.status_code == 200
    listed = response.json()["incidents"]
    assert listed["open"] == 1
    assert listed["items"][0]["rule"] == "AT balance low" and listed["items"][0]["severity"] == "critical"
    assert listed["items"][0]["key"] == "KES" and listed["items"][0]["acknowledged"] is False


@pytest.mark.django_db(transaction=True)
def test_healthz_is_503_only_when_the_database_is_down(client):
    assert client.get("/healthz").status_code == 200
    with database_unavailable():
        assert client.get("/healthz").status_code == 503


def test_an_evaluator_that_fails_leaves_its_incidents_alone(settings):
    rule = balance_rule()
    low_balance()
    incidents.evaluate([rule])
    broken = AlertRule(pk=rule.pk, kind="no_such_kind", name="broken", enabled=True)
    assert incidents.evaluate([broken])["failed"] == 1
    assert Incident.objects.get().is_open


def test_evaluation_runs_on_every_maintain_pass():
    from io import StringIO

    from django.core.management import call_command

    balance_rule()
    low_balance()
    out = StringIO()
    call_command("maintain", stdout=out)
    call_command("maintain", stdout=out)
    assert "alerts.evaluate:" in out.getvalue()
    assert Incident.objects.filter(rule__kind=AlertKind.BALANCE_LOW).count() == 1
    assert timezone.now() - Incident.objects.get(rule__kind=AlertKind.BALANCE_LOW).last_seen_at < timedelta(seconds=30)

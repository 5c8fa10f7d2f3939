"""Incidents: what the rules find, opened once, held while it lasts, resolved when it clears.

`evaluate()` runs on every `maintain` pass (registered with
`hub.maintenance.periodic`). For each enabled rule, every condition its
evaluator returns (alerts/rules.py) is matched with the rule's open incident of
the same key:

- none open: an incident opens (when, severity, summary, figures, link) and
  its "opened" notification is enqueued once the transaction commits;
- one open: it holds, its figures, summary and last-seen time updated; nobody
  is told again;
- an open incident whose condition is gone resolves (`resolved_at`) and its
  "resolved" notification is enqueued.

A database constraint keeps one open incident per (rule, key), so that two
`maintain` processes cannot open it twice. A disabled rule's open incidents
resolve. An evaluator that fails is logged and leaves its incidents as they
are. Staff acknowledge incidents (admin action): who and when is recorded;
acknowledging changes nothing else.
"""

import logging
from datetime import timedelta

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from hub.maintenance import periodic

from . import rules
from .models import AlertRule, Incident, NoticeEvent, Severity
from .notify import scrub, scrub_data
from .tasks import notify_on_commit

logger = logging.getLogger("atproject.alerts")

SEVERITY_ORDER = Case(
    When(severity=Severity.CRITICAL, then=Value(0)),
    When(severity=Severity.WARNING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


@periodic(timedelta(seconds=0), name="alerts.evaluate")
def evaluate_periodically() -> str:
    """Every pass of `maintain`: evaluate the rules."""
    counts = evaluate()
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def evaluate(rule_set=None, now=None) -> dict[str, int]:
    """Evaluate `rule_set` (default: every rule) at `now`; returns how many incidents opened, held, resolved."""
    now = now or timezone.now()
    counts = {"opened": 0, "held": 0, "resolved": 0, "failed": 0}
    for rule in AlertRule.objects.all() if rule_set is None else rule_set:
        if not rule.enabled:
            counts["resolved"] += _resolve_all(rule, now)
            continue
        try:
            conditions = rules.evaluate_rule(rule, now)
        except DatabaseError:
            raise  # the database is down: maintain says so and tries again next pass
        except Exception:
            logger.exception("Alert rule %s (%s) could not be evaluated", rule.pk, rule.kind)
            counts["failed"] += 1
            continue
        for what, n in _apply(rule, conditions, now).items():
            counts[what] += n
    return counts


def _apply(rule: AlertRule, conditions: list[rules.Condition], now) -> dict[str, int]:
    counts = {"opened": 0, "held": 0, "resolved": 0}
    with transaction.atomic():
        open_now = {i.key: i for i in Incident.objects.select_for_update().filter(rule=rule, resolved_at__isnull=True)}
        seen = set()
        for condition in conditions:
            key = condition.key[:200]
            if key in seen:
                continue
            seen.add(key)
            incident = open_now.get(key)
            if incident is None:
                incident = _open(rule, key, condition, now)
                if incident is not None:
                    counts["opened"] += 1
                    continue
                incident = Incident.objects.get(rule=rule, key=key, resolved_at__isnull=True)  # opened meanwhile
            _hold(incident, rule, condition, now)
            counts["held"] += 1
        for key, incident in open_now.items():
            if key not in seen and _resolve(incident, now):
                counts["resolved"] += 1
    return counts


def _fields(rule: AlertRule, condition: rules.Condition, now) -> dict:
    return {
        "severity": rule.severity,
        "summary": scrub(condition.summary)[:500],
        "figures": scrub_data(condition.figures),
        "link": condition.link[:1000],
        "last_seen_at": now,
    }


def _open(rule: AlertRule, key: str, condition: rules.Condition, now) -> Incident | None:
    """A new incident, its notification enqueued on commit; None when another process has just opened it."""
    try:
        with transaction.atomic():
            incident = Incident.objects.create(rule=rule, key=key, opened_at=now, **_fields(rule, condition, now))
    except IntegrityError:
        return None
    logger.warning("Incident opened: %s", incident)
    notify_on_commit(incident, NoticeEvent.OPENED)
    return incident


def _hold(incident: Incident, rule: AlertRule, condition: rules.Condition, now) -> None:
    Incident.objects.filter(pk=incident.pk).update(**_fields(rule, condition, now))


def _resolve(incident: Incident, now) -> bool:
    """Resolve `incident` unless it is already; its notification enqueued on commit."""
    if not Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(resolved_at=now):
        return False
    incident.resolved_at = now
    logger.info("Incident resolved: %s", incident)
    notify_on_commit(incident, NoticeEvent.RESOLVED)
    return True


def _resolve_all(rule: AlertRule, now) -> int:
    with transaction.atomic():
        return sum(_resolve(i, now) for i in Incident.objects.filter(rule=rule, resolved_at__isnull=True))


def acknowledge(incidents, user) -> int:
    """Record that `user` has seen the open, unacknowledged ones of `incidents`; returns how many."""
    return incidents.filter(resolved_at__isnull=True, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )


def open_incidents():
    """The open incidents, the most severe and the oldest first."""
    return (
        Incident.objects.filter(resolved_at__isnull=True)
        .select_related("rule", "acknowledged_by")
        .order_by(SEVERITY_ORDER, "opened_at", "pk")
    )


def health(limit: int = 50) -> dict:
    """What /healthz reports: how many incidents are open, and which (rule, key, severity, since when).

    /healthz answers anyone, so it names them without their figures (the dashboard and notifications have those).
    """
    rows = list(open_incidents()[:limit])
    return {
        "open": Incident.objects.filter(resolved_at__isnull=True).count(),
        "items": [
            {
                "id": i.pk,
                "rule": i.rule.name,
                "kind": i.rule.kind,
                "key": scrub(i.key),
                "severity": i.severity,
                "opened_at": i.opened_at.isoformat(),
                "last_seen_at": i.last_seen_at.isoformat(),
                "acknowledged": i.acknowledged_at is not None,
            }
            for i in rows
        ],
    }

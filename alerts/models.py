"""Alerts: rules staff edit (what to watch, how much is too much), the incidents they open, and notices sent.

A rule is data: its kind names the evaluator (alerts/rules.py) and its
threshold, window and minimum count what that evaluator compares; what each of
the three means depends on the kind (`KIND_HELP`, shown on the rule's page).
`maintain` evaluates every enabled rule on each pass (alerts/incidents.py): a
condition that holds opens one incident per (rule, key), which stays open while
it holds and resolves by itself once it clears. Notifications of each opening
and resolution are sent through the task queue, every try recorded.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AlertKind(models.TextChoices):
    SMS_FAILURE_RATE = "sms_failure_rate", _("SMS failure rate")
    CALLBACK_SILENCE = "callback_silence", _("Callback silence (no delivery reports, voice events, airtime statuses)")
    REFUSED_CALLBACKS = "refused_callbacks", _("Refused callbacks (403)")
    STUCK_SENT = "stuck_sent", _("SMS stuck in Sent")
    QUEUE_BACKLOG = "queue_backlog", _("Task queue: oldest waiting task")
    WORKER_MISSING = "worker_missing", _("Task queue: no worker seen")
    AT_SEND_FAILURES = "at_send_failures", _("AT unreachable or credentials refused")
    BALANCE_LOW = "balance_low", _("AT balance below an amount")
    BALANCE_RUNWAY = "balance_runway", _("AT balance below N days of recent spend")
    AIRTIME_DAILY_LIMIT = "airtime_daily_limit", _("Airtime daily limit used")
    USSD_ANSWER_TIME = "ussd_answer_time", _("USSD answer time (p95)")
    USSD_FAILED_SHARE = "ussd_failed_share", _("USSD failed or timed-out sessions")
    WEBHOOK_FAILING = "webhook_failing", _("Event webhook endpoint failing or disabled")


#: What threshold, window and minimum count mean for each kind (None: not used), and what the rule watches.
KIND_HELP = {
    AlertKind.SMS_FAILURE_RATE: {
        "watches": _(
            "Of the SMS created in the window that have a final outcome (delivered, or failed, rejected, "
            "expired), the share not delivered: overall, per network and/or per sender id (scope)."
        ),
        "threshold": _("Percent not delivered above which the rule fires, e.g. 20."),
        "window": _("Messages created in the last N minutes."),
        "min_count": _("At least this many messages with a final outcome (per network or sender, for those)."),
    },
    AlertKind.CALLBACK_SILENCE: {
        "watches": _(
            "At least M SMS (calls, airtime sends) were submitted to AT more than the window ago, within "
            "the last day, and not one delivery report (voice event, airtime status) arrived for any of "
            "them: the usual sign of a wrong callback URL in AT's dashboard. One incident per product."
        ),
        "threshold": None,
        "window": _("Only sends submitted more than N minutes ago count (AT's callbacks have had time to come)."),
        "min_count": _("At least this many sends submitted in that span."),
    },
    AlertKind.REFUSED_CALLBACKS: {
        "watches": _(
            "Callbacks refused with 403 (no or wrong token, an address outside the allowlist), per path; "
            "the figures name the path and the last source address, never the token."
        ),
        "threshold": _("More than this many refusals on one path fires the rule."),
        "window": _(
            "Refusals of the last N minutes (they are counted per hour: an hour counts while its latest "
            "refusal is within the window)."
        ),
        "min_count": None,
    },
    AlertKind.STUCK_SENT: {
        "watches": _("SMS submitted to AT (or reported Sent or Buffered) that have had no final delivery report."),
        "threshold": None,
        "window": _("Submitted more than N minutes ago (360: six hours)."),
        "min_count": _("At least this many such messages."),
    },
    AlertKind.QUEUE_BACKLOG: {
        "watches": _("The oldest task waiting in the queue (sends, retries, notifications)."),
        "threshold": None,
        "window": _("Fires when it has waited more than N minutes."),
        "min_count": None,
    },
    AlertKind.WORKER_MISSING: {
        "watches": _("When a worker last ran a task (maintain enqueues a heartbeat when the queue is empty)."),
        "threshold": None,
        "window": _("Fires when no worker has been seen for N minutes (or ever)."),
        "min_count": None,
    },
    AlertKind.AT_SEND_FAILURES: {
        "watches": _(
            "Failed calls to AT for sends: AT could not be reached (no connection), or refused the "
            "credentials (HTTP 401: check AT_USERNAME and AT_API_KEY). One incident for each."
        ),
        "threshold": None,
        "window": _("Failures of the last N minutes."),
        "min_count": _("At least this many failures."),
    },
    AlertKind.BALANCE_LOW: {
        "watches": _("AT's account balance, as last fetched (every ten minutes)."),
        "threshold": _("Fires below this amount, in the account's currency."),
        "window": None,
        "min_count": None,
    },
    AlertKind.BALANCE_RUNWAY: {
        "watches": _(
            "AT's balance divided by the recent daily spend in its currency (SMS, call, USSD costs and "
            "airtime delivered): how many days it lasts at that pace."
        ),
        "threshold": _("Fires when the balance lasts fewer than this many days."),
        "window": _("The spend of the last N minutes makes the daily pace (10080: seven days)."),
        "min_count": None,
    },
    AlertKind.AIRTIME_DAILY_LIMIT: {
        "watches": _("Airtime committed today per currency against AT_AIRTIME_DAILY_LIMIT (the operators' day)."),
        "threshold": _("Percent of the day's limit used above which the rule fires, e.g. 80."),
        "window": None,
        "min_count": None,
    },
    AlertKind.USSD_ANSWER_TIME: {
        "watches": _("How long we took to answer USSD screens (AT gives up after about 10 seconds)."),
        "threshold": _("Milliseconds: fires when the 95th percentile is above it."),
        "window": _("Screens answered in the last N minutes."),
        "min_count": _("At least this many screens answered."),
    },
    AlertKind.USSD_FAILED_SHARE: {
        "watches": _(
            "Of the USSD sessions started in the window, the share AT reported Failed or Incomplete "
            "(timed out or abandoned)."
        ),
        "threshold": _("Percent above which the rule fires, e.g. 20."),
        "window": _("Sessions started in the last N minutes."),
        "min_count": _("At least this many sessions."),
    },
    AlertKind.WEBHOOK_FAILING: {
        "watches": _(
            "Event webhook endpoints whose deliveries have failed without a success for longer than the "
            "window, or that were disabled after a day of failures (their events wait; replay them once the "
            "receiver is fixed). One incident per endpoint, named by its host."
        ),
        "threshold": None,
        "window": _("Failing for longer than N minutes."),
        "min_count": None,
    },
}


class Severity(models.TextChoices):
    INFO = "info", _("info")
    WARNING = "warning", _("warning")
    CRITICAL = "critical", _("critical")


class Scope(models.TextChoices):
    ALL = "all", _("overall, per network and per sender id")
    OVERALL = "overall", _("overall")
    NETWORK = "network", _("per network")
    SENDER = "sender", _("per sender id")


class AlertRule(models.Model):
    """One thing to watch: a kind of check with its threshold, window and minimum count."""

    name = models.CharField(_("name"), max_length=100, help_text=_("How incidents and notifications name it."))
    kind = models.CharField(
        _("kind"),
        max_length=32,
        choices=AlertKind.choices,
        help_text=_("What is checked; the page of a saved rule says what threshold, window and minimum mean for it."),
    )
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("Disabled: not evaluated, and its open incidents resolve.")
    )
    severity = models.CharField(
        _("severity"), max_length=16, choices=Severity.choices, default=Severity.WARNING,
        help_text=_("Shown with its incidents and in notifications."),
    )  # fmt: skip
    threshold = models.DecimalField(
        _("threshold"),
        max_digits=18,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_(
            "Failure rate, failed USSD share, airtime limit used: a percent; refused callbacks: a count; "
            "USSD answer time: milliseconds; balance: an amount; balance runway: days. Unused by the others."
        ),
    )
    window_minutes = models.PositiveIntegerField(
        _("window (minutes)"),
        default=60,
        help_text=_(
            "Rates, counts and answer times: the last N minutes; callback silence: sends older than this; "
            "stuck in Sent: submitted longer ago than this; task queue: waiting or unseen for this long; "
            "balance runway: the spend of this span sets the pace. Unused by the balance and airtime limits."
        ),
    )
    min_count = models.PositiveIntegerField(
        _("minimum count"),
        default=1,
        help_text=_(
            "The rule fires only with at least this many: messages with an outcome, sends, stuck messages, "
            "failed calls to AT, USSD screens or sessions, so that a handful cannot make a rate."
        ),
    )
    scope = models.CharField(
        _("scope"),
        max_length=16,
        choices=Scope.choices,
        default=Scope.ALL,
        help_text=_("SMS failure rate only: overall, per network (from delivery reports), per sender id, or all."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["kind", "pk"]
        permissions = [("send_test_notification", _("Can send a test notification"))]

    def __str__(self):
        return self.name

    def help_for(self, field: str):
        """What `field` (threshold, window, min_count) means for this rule's kind; None when unused."""
        return KIND_HELP.get(self.kind, {}).get(field)


class Incident(models.Model):
    """A rule's condition that held: opened once per (rule, key), updated while it holds, resolved when it clears."""

    rule = models.ForeignKey(AlertRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="incidents")
    key = models.CharField(
        _("key"), max_length=200, blank=True, help_text=_("What the condition is about: a network, a sender, a path.")
    )
    severity = models.CharField(_("severity"), max_length=16, choices=Severity.choices)
    summary = models.CharField(_("summary"), max_length=500, help_text=_("The condition in words, with its figures."))
    figures = models.JSONField(
        _("figures"), default=dict, blank=True,
        help_text=_("The numbers behind it, as last evaluated (never a subscriber's phone number or a secret)."),
    )  # fmt: skip
    link = models.CharField(_("link"), max_length=1000, blank=True, help_text=_("The admin page showing the cause."))
    opened_at = models.DateTimeField(_("opened at"), db_index=True)
    last_seen_at = models.DateTimeField(_("last seen at"), help_text=_("When the condition was last found to hold."))
    resolved_at = models.DateTimeField(
        _("resolved at"), null=True, blank=True, db_index=True, help_text=_("When it cleared; empty while open.")
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-opened_at", "-pk"]
        permissions = [("acknowledge_incident", _("Can acknowledge an incident"))]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "key"], condition=Q(resolved_at__isnull=True), name="alerts_incident_one_open"
            )
        ]

    def __str__(self):
        return f"{self.rule}{f' [{self.key}]' if self.key else ''}: {self.summary}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Channel(models.TextChoices):
    EMAIL = "email", _("e-mail")
    WEBHOOK = "webhook", _("webhook")


class NoticeEvent(models.TextChoices):
    OPENED = "opened", _("opened")
    RESOLVED = "resolved", _("resolved")
    TEST = "test", _("test")


class NotificationAttempt(models.Model):
    """One try at telling one channel about an incident's opening or resolution (or a test notice)."""

    incident = models.ForeignKey(
        Incident, verbose_name=_("incident"), null=True, blank=True, on_delete=models.CASCADE,
        related_name="notifications", help_text=_("Empty for a test notification."),
    )  # fmt: skip
    event = models.CharField(_("event"), max_length=16, choices=NoticeEvent.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    target = models.CharField(
        _("target"),
        max_length=500,
        help_text=_("The addresses, or which webhook (its host only: the rest of the URL may hold a secret)."),
    )
    attempt = models.PositiveSmallIntegerField(_("try"), default=1)
    at = models.DateTimeField(_("at"), db_index=True)
    success = models.BooleanField(_("success"), default=False)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(
        _("next try at"), null=True, blank=True, help_text=_("When the retry is due; empty: none (sent, or gave up).")
    )

    class Meta:
        verbose_name = _("notification attempt")
        verbose_name_plural = _("notification attempts")
        ordering = ["-at", "-pk"]

    def __str__(self):
        outcome = _("sent") if self.success else _("failed")
        return f"{self.get_event_display()} → {self.get_channel_display()} {self.target}: {outcome}"

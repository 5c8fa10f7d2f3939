"""Endpoints other systems register, the outbox of events, and every delivery attempt.

An `Event` is written in the same transaction (or statement) as the effect that
causes it, and only when some endpoint wants its type. The dispatcher fans it
out into one `Delivery` per enabled endpoint that wants it; each delivery is
tried until the receiver answers 2xx or about a day has passed, and every try
is an `Attempt`.
"""

import base64
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class EventType(models.TextChoices):
    SMS_SENT = "sms.sent", _("SMS accepted by AT")
    SMS_DELIVERED = "sms.delivered", _("SMS delivered")
    SMS_FAILED = "sms.failed", _("SMS failed")
    SMS_RECEIVED = "sms.received", _("SMS received")
    SMS_OPTED_OUT = "sms.opted_out", _("Subscriber opted out")
    SMS_SUBSCRIPTION = "sms.subscription", _("Premium subscription changed")
    USSD_SESSION_ENDED = "ussd.session.ended", _("USSD session ended")
    VOICE_CALL_ENDED = "voice.call.ended", _("Voice call ended")
    AIRTIME_DELIVERED = "airtime.delivered", _("Airtime delivered")
    AIRTIME_FAILED = "airtime.failed", _("Airtime failed")
    SIMSWAP_CHECKED = "simswap.checked", _("SIM swap checked")


SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class Endpoint(models.Model):
    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("event types"), default=list, help_text=_("The event types sent to this URL."))
    enabled = models.BooleanField(_("enabled"), default=True)
    secret = models.CharField(_("signing secret"), max_length=100, default=new_secret, editable=False)
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("previous secret valid until"), null=True, blank=True, editable=False,
        help_text=_("After a rotation, deliveries carry both signatures until then."),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    failing_since = models.DateTimeField(
        _("failing since"), null=True, blank=True, editable=False,
        help_text=_("First failed attempt since the last success; a day of failures disables the endpoint."),
    )
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True, editable=False)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True, editable=False)
    #: When a delivery task for this endpoint is due (None: none scheduled); keeps one task per endpoint.
    wake_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        permissions = [("replay_event", "Can replay webhook events")]

    def __str__(self):
        # Not the whole URL: its path or query may hold the receiver's own token.
        # Nor its user info (user:password@): the host and port only.
        url = urlsplit(self.url)
        host = f"[{url.hostname}]" if url.hostname and ":" in url.hostname else url.hostname
        return self.description or f"{url.scheme}://{host}{f':{url.port}' if url.port else ''}/…"

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets a delivery is signed with now: the current one, and the previous during its grace period."""
        now = now or timezone.now()
        found = [self.secret]
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            found.append(self.previous_secret)
        return found

    def rotate_secret(self, grace) -> str:
        """A new secret; the current one stays valid for `grace` (a timedelta). Returns the new secret."""
        now = timezone.now()
        self.previous_secret, self.previous_secret_until = self.secret, now + grace
        self.secret = new_secret()
        self.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
        return self.secret


class Event(models.Model):
    """One event of the outbox. Its data is the read API's view of the object, taken when it is first sent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=40, choices=EventType.choices)
    object_label = models.CharField(_("object"), max_length=60, help_text=_("app_label.model of the object."))
    object_id = models.BigIntegerField(_("object id"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    data = models.JSONField(_("data"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(dispatched_at__isnull=True), name="webhooks_event_undispatched"
            ),
            models.Index(fields=["object_label", "object_id"], name="webhooks_event_object"),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed (gave up)")


class Delivery(models.Model):
    """One event to one endpoint: tried until a 2xx or the end of the retry schedule."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    #: Tries in the current round (a replay starts a new round).
    tries = models.PositiveIntegerField(_("tries"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    #: Set while an attempt runs (a worker that dies leaves it; its lease, `next_attempt_at`, then ends).
    claimed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhooks_delivery_once")]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at"], condition=Q(status="pending"), name="webhooks_delivery_due"
            ),
        ]

    def __str__(self):
        return f"{self.event} → {self.endpoint}"


class Attempt(models.Model):
    """One HTTP request of a delivery, as it went."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    at = models.DateTimeField(_("at"), default=timezone.now)
    status_code = models.PositiveSmallIntegerField(_("HTTP status"), null=True, blank=True)
    ok = models.BooleanField(_("succeeded"), default=False)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    response_excerpt = models.TextField(_("response excerpt"), blank=True)

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        indexes = [models.Index(fields=["delivery", "at"], name="webhooks_attempt_delivery")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"

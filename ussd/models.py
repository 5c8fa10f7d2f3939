"""USSD: menus staff edit in the admin, sessions, and every hop and end-of-session notification AT sends.

A menu is a tree of screens. AT sends the whole path of inputs with every hop
(`text`, e.g. "1*2"); the answer is found by walking it from the menu's root.
"""

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from hub.callbacks.models import (
    CODE_LENGTH,
    ID_LENGTH,
    CallbackEvent,
    dedupe_constraint,
    failed_index,
    phone_columns,
    plain_indexes,
)
from hub.callbacks.payload import Payload
from hub.smstext import analyse

from .handlers import registered

#: What a phone shows of one screen: about 182 GSM-7 characters (91 when one needs UCS-2).
GSM7_SCREEN_LIMIT = 182
UCS2_SCREEN_LIMIT = 91


def screen_length_error(text: str) -> str:
    """Why a screen text is too long for a phone, or ""."""
    info = analyse(text)
    if info.encoding == "GSM-7" and info.length > GSM7_SCREEN_LIMIT:
        return _("%(n)d characters: a USSD screen holds at most %(limit)d.") % {
            "n": info.length,
            "limit": GSM7_SCREEN_LIMIT,
        }
    if info.encoding == "UCS-2" and info.length > UCS2_SCREEN_LIMIT:
        return _("%(n)d characters with %(chars)s, which need UCS-2: then a USSD screen holds at most %(limit)d.") % {
            "n": info.length,
            "chars": " ".join(info.ucs2_characters[:20]),
            "limit": UCS2_SCREEN_LIMIT,
        }
    return ""


class Menu(models.Model):
    """A USSD menu, chosen by the session's service code (the default menu answers any other)."""

    name = models.CharField(_("name"), max_length=100)
    service_code = models.CharField(
        _("service code"),
        max_length=CODE_LENGTH,
        blank=True,
        help_text=_("e.g. *384*123#. Empty: not tied to a code."),
    )
    is_default = models.BooleanField(
        _("default"), default=False, help_text=_("Answers sessions whose service code no menu has.")
    )
    root = models.ForeignKey(
        "Screen",
        verbose_name=_("first screen"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Shown when the session starts (empty input)."),
    )
    invalid = models.ForeignKey(
        "Screen",
        verbose_name=_("invalid-input screen"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Shown for an input no option expects; empty: END Invalid choice."),
    )
    version = models.UUIDField(
        _("version"),
        default=uuid.uuid4,
        editable=False,
        help_text=_("Changes with every edit of the menu, its screens or options: every process then reloads it."),
    )

    class Meta:
        verbose_name = _("USSD menu")
        verbose_name_plural = _("USSD menus")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_code"], condition=~models.Q(service_code=""), name="ussd_menu_service_code"
            ),
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="ussd_one_default"
            ),
        ]

    def __str__(self):
        code = self.service_code or (_("default") if self.is_default else _("no code"))
        return f"{self.name} ({code})"


class ScreenAction(models.TextChoices):
    CON = "CON", _("CON: show and wait for input")
    END = "END", _("END: show and end the session")


class Screen(models.Model):
    """One screen of a menu: its text (with placeholders), CON or END, and where each input leads."""

    menu = models.ForeignKey(Menu, verbose_name=_("menu"), on_delete=models.CASCADE, related_name="screens")
    name = models.CharField(_("name"), max_length=100, help_text=_("For staff, e.g. 'account'."))
    action = models.CharField(_("action"), max_length=3, choices=ScreenAction.choices, default=ScreenAction.CON)
    text = models.TextField(
        _("text"),
        blank=True,
        help_text=_(
            "Without the CON/END prefix. Placeholders: {phone_number}, {service_code}, {session_id}, "
            "{network_code}, {input} (the last input), {text} (every input)."
        ),
    )
    handler = models.CharField(
        _("Python handler"),
        max_length=200,
        blank=True,
        help_text=_(
            "Computes the answer instead of the text: one of the handlers developers registered "
            "(@screen_handler in an app's ussd_handlers.py). Empty: the text is shown."
        ),
    )

    class Meta:
        verbose_name = _("USSD screen")
        verbose_name_plural = _("USSD screens")
        ordering = ["menu", "pk"]

    def __str__(self):
        return f"{self.menu.name}: {self.name}"

    def clean(self):
        error = screen_length_error(self.text)
        if error:
            raise ValidationError({"text": error})
        if self.handler and registered(self.handler) is None:
            message = _("%(name)s is not a registered screen handler: pick one from the list.")
            raise ValidationError({"handler": message % {"name": self.handler}})


class Option(models.Model):
    """An input a screen accepts, and the screen it leads to."""

    screen = models.ForeignKey(Screen, verbose_name=_("screen"), on_delete=models.CASCADE, related_name="options")
    input = models.CharField(
        _("input"), max_length=40, help_text=_("What the user types, e.g. 1. '*' accepts any input.")
    )
    next_screen = models.ForeignKey(Screen, verbose_name=_("next screen"), on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("option")
        verbose_name_plural = _("options")
        ordering = ["screen", "input"]
        constraints = [models.UniqueConstraint(fields=["screen", "input"], name="ussd_option_input")]

    def __str__(self):
        return f"{self.input} → {self.next_screen.name}"

    def clean(self):
        if self.next_screen_id and self.screen_id and self.next_screen.menu_id != self.screen.menu_id:
            raise ValidationError({"next_screen": _("The next screen must belong to the same menu.")})


# A new random version (not a counter: a rolled-back edit must not leave a
# number that a later edit reuses for other content).
@receiver([post_save, post_delete], sender=Screen)
def screen_changed(sender, instance, **kwargs):
    Menu.objects.filter(pk=instance.menu_id).update(version=uuid.uuid4())


@receiver([post_save, post_delete], sender=Option)
def option_changed(sender, instance, **kwargs):
    Menu.objects.filter(screens=instance.screen_id).update(version=uuid.uuid4())


@receiver(pre_save, sender=Menu)
def menu_changing(sender, instance, **kwargs):
    instance.version = uuid.uuid4()


# --- Sessions and AT's callbacks -------------------------------------------------------------


class UssdSession(models.Model):
    """One USSD session (AT's sessionId): its hops, and the end AT reports."""

    session_id = models.CharField(_("session id"), max_length=ID_LENGTH, unique=True)
    phone_number, phone_e164 = phone_columns(_("phone number"), db_index=False)
    service_code = models.CharField(_("service code"), max_length=CODE_LENGTH, blank=True)
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    last_input = models.CharField(_("last input"), max_length=255, blank=True, help_text=_("AT's full text path."))
    hop_count = models.PositiveIntegerField(_("hops"), default=0)
    status = models.CharField(
        _("final status"),
        max_length=CODE_LENGTH,
        blank=True,
        help_text=_("From AT's end-of-session notification (Success, Incomplete, Failed); empty while open."),
    )
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("USSD session")
        verbose_name_plural = _("USSD sessions")
        ordering = ["-started_at", "-pk"]
        # Every first hop writes a session: plain indexes only (see `plain_indexes`).
        indexes = plain_indexes("ussd_session", "phone_e164", "service_code", "status")

    def __str__(self):
        return f"{self.phone_number} {self.service_code} ({self.session_id})"


class UssdHop(CallbackEvent):
    """One request of a session (`/api/ussd/session`) and the screen we answered."""

    session = models.ForeignKey(
        UssdSession, verbose_name=_("session"), null=True, blank=True, on_delete=models.CASCADE, related_name="hops"
    )
    at_session_id = models.CharField(_("AT session id"), max_length=ID_LENGTH, blank=True)
    phone_number, phone_e164 = phone_columns(_("phone number"), db_index=False)
    service_code = models.CharField(_("service code"), max_length=CODE_LENGTH, blank=True)
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    text = models.TextField(_("input"), blank=True, help_text=_("AT's text: every input so far, joined by *."))
    response = models.TextField(_("screen sent"), blank=True)
    duration_ms = models.PositiveIntegerField(_("answered in (ms)"), null=True, blank=True)

    class Meta(CallbackEvent.Meta):
        verbose_name = _("USSD hop")
        verbose_name_plural = _("USSD hops")
        constraints = [dedupe_constraint("ussd_ussdhop_dedupe")]
        indexes = [failed_index("ussd_hop"), *plain_indexes("ussd_hop", "at_session_id", "phone_e164")]

    def __str__(self):
        return f"{self.at_session_id} [{self.text}]"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber", required=True)
        return {
            "at_session_id": payload.text("sessionId", required=True, max_length=ID_LENGTH),
            "phone_number": phone,
            "phone_e164": phone_e164,
            "service_code": payload.text("serviceCode", required=True, max_length=CODE_LENGTH),
            "network_code": payload.text("networkCode", max_length=CODE_LENGTH),
            "text": payload.text("text"),
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_session_id"], fields["text"]]


class UssdEnd(CallbackEvent):
    """AT's end-of-session notification (`/api/ussd/status`)."""

    session = models.ForeignKey(
        UssdSession,
        verbose_name=_("session"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="end_notifications",
    )
    at_session_id = models.CharField(_("AT session id"), max_length=ID_LENGTH, blank=True, db_index=True)
    phone_number, phone_e164 = phone_columns(_("phone number"))
    service_code = models.CharField(_("service code"), max_length=CODE_LENGTH, blank=True)
    network_code = models.CharField(_("network code"), max_length=CODE_LENGTH, blank=True)
    status = models.CharField(_("status"), max_length=CODE_LENGTH, blank=True, db_index=True)
    date = models.DateTimeField(_("date"), null=True, blank=True)
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    hops_count = models.PositiveIntegerField(_("hops"), null=True, blank=True)
    input = models.TextField(_("input"), blank=True)
    last_app_response = models.TextField(_("last app response"), blank=True)
    error_message = models.TextField(_("error message"), blank=True)

    class Meta(CallbackEvent.Meta):
        verbose_name = _("USSD end notification")
        verbose_name_plural = _("USSD end notifications")
        constraints = [dedupe_constraint("ussd_ussdend_dedupe")]
        indexes = [failed_index("ussd_end")]

    def __str__(self):
        return f"{self.at_session_id}: {self.status}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        phone, phone_e164 = payload.phone("phoneNumber")
        cost, currency = payload.money("cost")
        return {
            "at_session_id": payload.text("sessionId", required=True, max_length=ID_LENGTH),
            "phone_number": phone,
            "phone_e164": phone_e164,
            "service_code": payload.text("serviceCode", max_length=CODE_LENGTH),
            "network_code": payload.text("networkCode", max_length=CODE_LENGTH),
            "status": payload.text("status", max_length=CODE_LENGTH),
            "date": payload.timestamp("date"),
            "cost": cost,
            "cost_currency": currency,
            "duration_ms": payload.integer("durationInMillis"),
            "hops_count": payload.integer("hopsCount"),
            "input": payload.text("input", strip=False),
            "last_app_response": payload.text("lastAppResponse", strip=False),
            "error_message": payload.text("errorMessage", strip=False),
        }

    @classmethod
    def dedupe_values(cls, fields):
        return [fields["at_session_id"]]

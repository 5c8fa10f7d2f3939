"""Voice: calls and every callback AT sends about them, what callers hear, and outbound calls."""

from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _

from hub.callbacks.models import (
    CODE_LENGTH,
    ID_LENGTH,
    PHONE_LENGTH,
    CallbackEvent,
    failed_index,
    plain_indexes,
    window_dedupe_index,
)
from hub.callbacks.payload import Payload
from hub.outbound import OutboundRequest

URL_LENGTH = 500


class Call(models.Model):
    """One call (AT's sessionId), inbound or outbound, as its callbacks describe it."""

    session_id = models.CharField(_("session id"), max_length=ID_LENGTH, unique=True)
    direction = models.CharField(_("direction"), max_length=CODE_LENGTH, blank=True, db_index=True)
    caller_number = models.CharField(
        _("subscriber"),
        max_length=PHONE_LENGTH,
        blank=True,
        help_text=_(
            "AT's callerNumber: the phone user in the call, who called us (inbound) or whom we called (outbound); "
            "as AT gave it, maybe SIP or withheld."
        ),
    )
    destination_number = models.CharField(
        _("our AT number"),
        max_length=PHONE_LENGTH,
        blank=True,
        help_text=_("AT's destinationNumber: our Africa's Talking number, on inbound and outbound calls alike."),
    )
    phone_e164 = models.CharField(
        _("subscriber (E.164)"),
        max_length=20,
        blank=True,
        db_index=True,
        help_text=_("The subscriber (callerNumber) normalised; empty when not a phone number."),
    )
    state = models.CharField(
        _("state"),
        max_length=CODE_LENGTH,
        blank=True,
        db_index=True,
        help_text=_("active while AT says isActive=1, then AT's final status (e.g. Completed, NotAnswered)."),
    )
    hangup_cause = models.CharField(_("hangup cause"), max_length=CODE_LENGTH, blank=True)
    dtmf_digits = models.CharField(
        _("digits pressed"), max_length=255, blank=True, help_text=_("Every key press, in order, comma-separated.")
    )
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    cost = models.DecimalField(_("cost"), max_digits=18, decimal_places=4, null=True, blank=True)
    cost_currency = models.CharField(_("currency"), max_length=3, blank=True)
    started_at = models.DateTimeField(_("started at"), db_index=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("call")
        verbose_name_plural = _("calls")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        if self.direction.lower() == "outbound":
            return f"{self.direction} {self.destination_number} → {self.caller_number}"
        return f"{self.direction or '?'} {self.caller_number} → {self.destination_number}"

    @property
    def our_number(self) -> str:
        """Our AT number on this call: AT's destinationNumber, whichever way the call goes."""
        return self.destination_number


class RecordingKind(models.TextChoices):
    VOICEMAIL = "voicemail", _("voicemail")
    CALL = "call", _("recorded call")


class Recording(models.Model):
    call = models.ForeignKey(Call, verbose_name=_("call"), on_delete=models.CASCADE, related_name="recordings")
    url = models.URLField(_("URL"), max_length=URL_LENGTH)
    kind = models.CharField(_("kind"), max_length=16, choices=RecordingKind.choices, db_index=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("recording")
        verbose_name_plural = _("recordings")
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["call", "url"], name="voice_recording_url")]

    def __str__(self):
        return self.url


class VoiceCallback(CallbackEvent):
    """What AT's voice callbacks carry; two kinds share it.

    On every request of a call, inbound and outbound alike, AT's callerNumber is
    the phone user in the call (the subscriber) and destinationNumber is our AT
    number; `direction` tells which way the call goes.
    """

    at_session_id = models.CharField(_("session id"), max_length=ID_LENGTH, blank=True)
    is_active = models.BooleanField(_("active"), null=True, blank=True)
    direction = models.CharField(_("direction"), max_length=CODE_LENGTH, blank=True)
    caller_number = models.CharField(
        _("subscriber (callerNumber)"),
        max_length=PHONE_LENGTH,
        blank=True,
        help_text=_("The phone user in the call, inbound or outbound."),
    )
    destination_number = models.CharField(
        _("our AT number (destinationNumber)"),
        max_length=PHONE_LENGTH,
        blank=True,
        help_text=_("Our Africa's Talking number, inbound or outbound."),
    )
    dtmf_digits = models.CharField(_("digits"), max_length=64, blank=True)
    recording_url = models.CharField(_("recording URL"), max_length=URL_LENGTH, blank=True)
    duration_seconds = models.PositiveIntegerField(_("duration (s)"), null=True, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=4, null=True, blank=True)
    currency_code = models.CharField(_("currency"), max_length=3, blank=True)
    call_session_state = models.CharField(_("call session state"), max_length=CODE_LENGTH, blank=True)
    status = models.CharField(_("status"), max_length=CODE_LENGTH, blank=True)
    hangup_cause = models.CharField(_("hangup cause"), max_length=CODE_LENGTH, blank=True)

    #: AT may post the same request again: an identical payload within a minute is a repeat.
    dedupe_window = timedelta(minutes=1)

    class Meta(CallbackEvent.Meta):
        abstract = True

    def __str__(self):
        return f"{self.at_session_id} {self.call_session_state or self.status or ('active' if self.is_active else '')}"

    @classmethod
    def fields_from_payload(cls, payload: Payload) -> dict:
        amount, currency = payload.money("amount")
        active = payload.text("isActive", max_length=8)
        return {
            "at_session_id": payload.text("sessionId", required=True, max_length=ID_LENGTH),
            "is_active": None if active == "" else active not in ("0", "false", "False"),
            "direction": payload.text("direction", max_length=CODE_LENGTH),
            "caller_number": payload.text("callerNumber", max_length=PHONE_LENGTH),
            "destination_number": payload.text("destinationNumber", max_length=PHONE_LENGTH),
            "dtmf_digits": payload.text("dtmfDigits", max_length=64),
            "recording_url": payload.text("recordingUrl", max_length=URL_LENGTH),
            "duration_seconds": payload.integer("durationInSeconds"),
            "amount": amount,
            "currency_code": payload.text("currencyCode", max_length=3).upper() or currency,
            "call_session_state": payload.text("callSessionState", max_length=CODE_LENGTH),
            "status": payload.text("status", max_length=CODE_LENGTH),
            "hangup_cause": payload.text("hangupCause", max_length=CODE_LENGTH),
        }


class VoiceInstruction(VoiceCallback):
    """A request for instructions (`/api/voice/instruct`) and the XML we answered."""

    call = models.ForeignKey(
        Call, verbose_name=_("call"), null=True, blank=True, on_delete=models.SET_NULL, related_name="instructions"
    )
    response = models.TextField(_("XML sent"), blank=True)

    class Meta(VoiceCallback.Meta):
        verbose_name = _("voice instruction request")
        verbose_name_plural = _("voice instruction requests")
        indexes = [
            failed_index("voice_instruction"),
            window_dedupe_index("voice_instruction"),
            *plain_indexes("voice_instruction", "at_session_id"),
        ]


class VoiceEvent(VoiceCallback):
    """A call event notification (`/api/voice/events`)."""

    call = models.ForeignKey(
        Call, verbose_name=_("call"), null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta(VoiceCallback.Meta):
        verbose_name = _("voice event")
        verbose_name_plural = _("voice events")
        indexes = [
            failed_index("voice_event"),
            window_dedupe_index("voice_event"),
            *plain_indexes("voice_event", "at_session_id"),
        ]


# --- What callers hear ---------------------------------------------------------------------------


class VoiceFlow(models.Model):
    """What a caller hears on one of our AT numbers: a greeting and an optional keypad menu."""

    number = models.CharField(
        _("AT number"),
        max_length=PHONE_LENGTH,
        blank=True,
        unique=True,
        help_text=_("Your AT voice number, +254...; empty: the default for any number."),
    )
    greeting = models.TextField(_("greeting (said)"), blank=True)
    greeting_audio_url = models.URLField(
        _("greeting (audio URL)"),
        max_length=URL_LENGTH,
        blank=True,
        help_text=_("Played instead of the said greeting when set."),
    )
    voice = models.CharField(
        _("voice"),
        max_length=64,
        blank=True,
        help_text=_("Text-to-speech voice, e.g. man, woman, en-US-Standard-C; empty: AT's."),
    )
    menu_prompt = models.TextField(
        _("keypad menu prompt"),
        blank=True,
        help_text=_(
            "Said while waiting for a key, e.g. 'Press 1 for sales, 2 to leave a message'. "
            "The menu is offered when the flow has keypad options."
        ),
    )
    digit_timeout = models.PositiveSmallIntegerField(_("seconds to wait for a key"), default=10)
    no_input = models.TextField(
        _("said when no key is pressed"), blank=True, default="We did not get your choice. Goodbye."
    )
    invalid_choice = models.TextField(_("said for a key with no option"), default="Invalid choice.")
    voicemail_thanks = models.TextField(
        _("said after a voicemail"), default="Thank you, your message has been recorded. Goodbye."
    )

    class Meta:
        verbose_name = _("call flow")
        verbose_name_plural = _("call flows")
        ordering = ["number"]

    def __str__(self):
        return self.number or str(_("default (any number)"))


class KeyAction(models.TextChoices):
    SAY = "say", _("say a text")
    PLAY = "play", _("play an audio file")
    DIAL = "dial", _("connect to numbers")
    VOICEMAIL = "voicemail", _("record a voicemail")
    HANG_UP = "hangup", _("hang up")


class KeypadOption(models.Model):
    """What pressing a key does in a call flow's menu."""

    flow = models.ForeignKey(VoiceFlow, verbose_name=_("flow"), on_delete=models.CASCADE, related_name="options")
    digits = models.CharField(_("key"), max_length=8, help_text=_("e.g. 1"))
    action = models.CharField(_("action"), max_length=16, choices=KeyAction.choices)
    text = models.TextField(
        _("text"), blank=True, help_text=_("Said (say, voicemail prompt, before dialling or hanging up).")
    )
    audio_url = models.URLField(_("audio URL"), max_length=URL_LENGTH, blank=True, help_text=_("For play."))
    dial_numbers = models.CharField(
        _("numbers to dial"), max_length=500, blank=True, help_text=_("Comma-separated; SIP addresses allowed.")
    )
    record_calls = models.BooleanField(_("record the dialled call"), default=False)
    max_length = models.PositiveSmallIntegerField(_("voicemail length (s)"), default=120)

    class Meta:
        verbose_name = _("keypad option")
        verbose_name_plural = _("keypad options")
        ordering = ["flow", "digits"]
        constraints = [models.UniqueConstraint(fields=["flow", "digits"], name="voice_keypad_digits")]

    def __str__(self):
        return f"{self.digits}: {self.get_action_display()}"


# --- Outbound calls ------------------------------------------------------------------------------------


class OutboundCall(OutboundRequest):
    """A call we asked AT to place; the row exists before AT is called."""

    send_task = "voice.tasks.place_calls"

    phone = models.CharField(_("phone"), max_length=PHONE_LENGTH, db_index=True)
    from_number = models.CharField(_("from"), max_length=PHONE_LENGTH)
    at_status = models.CharField(_("AT status"), max_length=CODE_LENGTH, blank=True)
    at_session_id = models.CharField(_("AT session id"), max_length=ID_LENGTH, blank=True, db_index=True)
    call = models.ForeignKey(
        Call, verbose_name=_("call"), null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_requests"
    )

    class Meta(OutboundRequest.Meta):
        verbose_name = _("outbound call")
        verbose_name_plural = _("outbound calls")

    def __str__(self):
        return f"{self.from_number} → {self.phone} ({self.get_status_display()})"

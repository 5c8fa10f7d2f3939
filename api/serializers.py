"""How the read API shows each object, and `represent(obj)`: the same dict for anything else that shows them.

Every object carries `object` (what it is, e.g. "sms.message"), a stable `id` (its primary key, never reused),
AT's ids under their own names (`at_message_id`, `session_id`, `at_request_id`, ...), subscribers' numbers in
E.164 (as given when a number has no E.164 form: a SIP address, a withheld caller, an invalid number we refused),
times in ISO 8601 in UTC (`2026-12-02T13:25:49.123456Z`), money as a decimal string beside its currency.

Children come with their parent, oldest first: a message's delivery reports, a call's timeline (AT's instruction
requests and events), a USSD session's hops. The list views read them for a whole page at once
(`prefetch_children`), so a page costs the same number of queries for 10 rows as for 200.
"""

from dataclasses import dataclass
from datetime import UTC

from django.db import models
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from airtime.models import AirtimeTransaction
from hub.phones import normalize_phone
from simswap.models import SimSwapCheck
from sms.models import (
    DeliveryReport,
    InboundMessage,
    OptOutEvent,
    OutboundBatch,
    OutboundMessage,
    SubscriptionEvent,
)
from ussd.models import UssdHop, UssdSession
from voice.models import Call, OutboundCall, Recording, VoiceEvent, VoiceInstruction


class UtcDateTimeField(serializers.DateTimeField):
    """ISO 8601 in UTC, whatever TIME_ZONE is: `2026-12-02T13:25:49.123456Z`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)


@extend_schema_field({"type": "string", "nullable": True, "example": "+254711000001"})
class PhoneField(serializers.Field):
    """A subscriber's number in E.164: the stored E.164 column when there is one, else the number normalised,
    else as given (a SIP address, a withheld caller); null when empty."""

    def __init__(self, raw: str, e164: str | None = None, **kwargs):
        self.raw, self.e164 = raw, e164
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, obj):
        if self.e164 and getattr(obj, self.e164):
            return getattr(obj, self.e164)
        given = getattr(obj, self.raw) or ""
        return normalize_phone(given) or given or None


class ReadSerializer(serializers.ModelSerializer):
    """Read only; datetimes in UTC; `object` names what the object is."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UtcDateTimeField,
    }
    object_name = ""
    object = serializers.SerializerMethodField(help_text="What the object is.")

    @extend_schema_field(OpenApiTypes.STR)
    def get_object(self, obj) -> str:
        return self.object_name

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.read_only = True
        return fields


# --- SMS -------------------------------------------------------------------------------------------------------


class DeliveryReportSerializer(ReadSerializer):
    object_name = "sms.delivery_report"

    class Meta:
        model = DeliveryReport
        fields = ["object", "id", "status", "network_code", "failure_reason", "retry_count", "received_at"]
        extra_kwargs = {"status": {"help_text": "AT's status as it sent it (Sent, Buffered, Success, Failed, ...)."}}


class OutboundMessageSerializer(ReadSerializer):
    object_name = "sms.message"
    phone = PhoneField("phone")
    delivery_reports = DeliveryReportSerializer(many=True, read_only=True, help_text="AT's reports, oldest first.")

    class Meta:
        model = OutboundMessage
        fields = [
            "object", "id", "batch", "phone", "text", "sender", "mode", "status", "failure_reason",
            "at_message_id", "at_status", "at_status_code", "cost", "cost_currency", "attempts",
            "in_reply_to", "resend_of", "created_at", "updated_at", "submitted_at", "delivered_at",
            "delivery_reports",
        ]  # fmt: skip
        extra_kwargs = {
            "status": {"help_text": "Ours: queued, sending, submitted, unknown, sent, buffered, failed, expired, "
                       "rejected, blocked, delivered."},
            "batch": {"help_text": "The id of the batch (the send) it belongs to."},
        }  # fmt: skip


class OutboundBatchSerializer(ReadSerializer):
    object_name = "sms.batch"
    status_counts = serializers.SerializerMethodField(help_text="How many of its messages are in each status.")

    class Meta:
        model = OutboundBatch
        fields = ["object", "id", "created_at", "source", "text", "sender", "mode", "recipient_count", "status_counts"]

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "integer"}, "example": {"sent": 2}})
    def get_status_counts(self, batch) -> dict:
        counts = getattr(batch, "_status_counts", None)  # set for a whole page at once by the list view
        return dict(sorted((counts if counts is not None else batch.status_counts()).items()))


class InboundMessageSerializer(ReadSerializer):
    object_name = "sms.inbound"
    phone = PhoneField("from_number", "from_e164", help_text="The subscriber who sent it.")
    to = serializers.CharField(source="to_number", help_text="Our shortcode or number.")
    at_id = serializers.CharField(help_text="AT's id of the message.")

    class Meta:
        model = InboundMessage
        fields = [
            "object", "id", "at_id", "phone", "to", "text", "link_id", "network_code", "cost", "cost_currency",
            "sent_at", "received_at", "state",
        ]  # fmt: skip
        extra_kwargs = {"state": {"help_text": "processed, or failed (its effect, e.g. an auto-reply, failed)."}}


class OptOutEventSerializer(ReadSerializer):
    """A subscriber asked for no more bulk SMS from a sender id (AT's opt-out callback)."""

    object_name = "sms.opt_out"
    phone = PhoneField("phone_number", "phone_e164")

    class Meta:
        model = OptOutEvent
        fields = ["object", "id", "phone", "sender_id", "received_at"]


class SubscriptionEventSerializer(ReadSerializer):
    """A premium subscription added or deleted (AT's subscription callback)."""

    object_name = "sms.subscription"
    phone = PhoneField("phone_number", "phone_e164")

    class Meta:
        model = SubscriptionEvent
        fields = ["object", "id", "phone", "short_code", "keyword", "update_type", "received_at"]


# --- Voice ---------------------------------------------------------------------------------------------------


class RecordingSerializer(ReadSerializer):
    object_name = "voice.recording"

    class Meta:
        model = Recording
        fields = ["object", "id", "kind", "url", "received_at"]


class CallStepSerializer(ReadSerializer):
    """One of AT's requests about a call: an instruction request (we answered with XML) or an event."""

    object_name = "voice.step"
    type = serializers.SerializerMethodField(help_text="instructions (AT asked what to do) or event.")

    class Meta:
        model = VoiceEvent
        fields = [
            "object", "id", "type", "received_at", "is_active", "call_session_state", "status", "hangup_cause",
            "dtmf_digits", "recording_url", "duration_seconds", "amount", "currency_code",
        ]  # fmt: skip

    @extend_schema_field({"type": "string", "enum": ["instructions", "event"]})
    def get_type(self, step) -> str:
        return "instructions" if isinstance(step, VoiceInstruction) else "event"


class CallRequestSerializer(ReadSerializer):
    """A call we asked AT to place; `call` is the call it became, once AT's callbacks name it."""

    object_name = "voice.call_request"
    phone = PhoneField("phone")

    class Meta:
        model = OutboundCall
        fields = [
            "object", "id", "phone", "from_number", "status", "failure_reason", "at_session_id", "at_status",
            "attempts", "call", "created_at", "updated_at", "submitted_at",
        ]  # fmt: skip
        extra_kwargs = {"from_number": {"help_text": "Our AT number the call is placed from."}}


class CallSerializer(ReadSerializer):
    object_name = "voice.call"
    phone = PhoneField("caller_number", "phone_e164", help_text="The subscriber in the call, inbound or outbound.")
    our_number = serializers.CharField(source="destination_number", help_text="Our AT number.")
    timeline = serializers.SerializerMethodField(help_text="AT's instruction requests and events, oldest first.")
    recordings = RecordingSerializer(many=True, read_only=True)
    requests = CallRequestSerializer(many=True, read_only=True, source="outbound_requests")

    class Meta:
        model = Call
        fields = [
            "object", "id", "session_id", "direction", "phone", "our_number", "state", "hangup_cause",
            "dtmf_digits", "duration_seconds", "cost", "cost_currency", "started_at", "ended_at", "timeline",
            "recordings", "requests",
        ]  # fmt: skip
        extra_kwargs = {
            "session_id": {"help_text": "AT's sessionId."},
            "state": {"help_text": "active while AT says isActive=1, then AT's final status (Completed, ...)."},
        }

    @extend_schema_field(CallStepSerializer(many=True))
    def get_timeline(self, call) -> list:
        steps = sorted([*call.instructions.all(), *call.events.all()], key=lambda s: (s.received_at, s.pk))
        return CallStepSerializer(steps, many=True, context=self.context).data


# --- USSD ---------------------------------------------------------------------------------------------------------


class UssdHopSerializer(ReadSerializer):
    object_name = "ussd.hop"
    input = serializers.CharField(source="text", help_text="AT's text: every input so far, joined by *.")
    response = serializers.CharField(help_text="The screen we answered (CON ... or END ...).")

    class Meta:
        model = UssdHop
        fields = ["object", "id", "received_at", "input", "response", "duration_ms"]


class UssdSessionSerializer(ReadSerializer):
    object_name = "ussd.session"
    phone = PhoneField("phone_number", "phone_e164")
    hops = UssdHopSerializer(many=True, read_only=True, help_text="Each request of the session, oldest first.")

    class Meta:
        model = UssdSession
        fields = [
            "object", "id", "session_id", "phone", "service_code", "network_code", "status", "last_input",
            "hop_count", "cost", "cost_currency", "duration_ms", "started_at", "ended_at", "hops",
        ]  # fmt: skip
        extra_kwargs = {
            "session_id": {"help_text": "AT's sessionId."},
            "status": {"help_text": "AT's final status (Success, Incomplete, Failed); empty while it runs."},
        }


# --- Airtime, SIM swap -------------------------------------------------------------------------------------------


class AirtimeTransactionSerializer(ReadSerializer):
    object_name = "airtime.transaction"
    phone = PhoneField("phone")

    class Meta:
        model = AirtimeTransaction
        fields = [
            "object", "id", "phone", "amount", "currency", "status", "failure_reason", "at_request_id",
            "at_transaction_id", "at_status", "at_error_message", "discount", "discount_currency", "description",
            "attempts", "created_at", "updated_at", "submitted_at", "validated_at", "delivered_at", "settled_at",
        ]  # fmt: skip


class SimSwapCheckSerializer(ReadSerializer):
    object_name = "simswap.check"
    phone = PhoneField("phone")

    class Meta:
        model = SimSwapCheck
        fields = [
            "object", "id", "phone", "status", "failure_reason", "at_request_id", "at_transaction_id", "at_status",
            "swap_status", "last_swap_date", "carrier_name", "country_code", "network_code", "number_type", "cost",
            "provider_ref_id", "attempts", "created_at", "updated_at", "submitted_at", "result_at",
        ]  # fmt: skip
        extra_kwargs = {"last_swap_date": {"help_text": "A date (YYYY-MM-DD); null when AT does not know it."}}


#: The serializer of each model the API shows.
SERIALIZERS = {
    OutboundMessage: OutboundMessageSerializer,
    OutboundBatch: OutboundBatchSerializer,
    InboundMessage: InboundMessageSerializer,
    Call: CallSerializer,
    UssdSession: UssdSessionSerializer,
    AirtimeTransaction: AirtimeTransactionSerializer,
    SimSwapCheck: SimSwapCheckSerializer,
    # Shown within the subscriber timeline and in events, without lists of their own:
    OptOutEvent: OptOutEventSerializer,
    SubscriptionEvent: SubscriptionEventSerializer,
    OutboundCall: CallRequestSerializer,
}


@dataclass(frozen=True)
class Children:
    """The rows of `model` under a parent (by the foreign key `parent`), in `order`, shown as `name`."""

    name: str
    model: type
    parent: str
    order: tuple = ("received_at", "pk")


#: What each model's rows are shown with, read for a whole page at once (`prefetch_children`).
CHILDREN = {
    OutboundMessage: (Children("delivery_reports", DeliveryReport, "message"),),
    Call: (
        Children("instructions", VoiceInstruction, "call"),
        Children("events", VoiceEvent, "call"),
        Children("recordings", Recording, "call"),
        Children("outbound_requests", OutboundCall, "call", ("created_at", "pk")),
    ),
    UssdSession: (Children("hops", UssdHop, "session"),),
}


def prefetch_children(rows) -> None:
    """Read the children of `rows` (of one model) with one query per kind of child, as prefetch_related does.

    Django's prefetch_related builds a filtered queryset per parent row, which took most of the time of a
    page of 200 messages (a millisecond a row); here the children are grouped in one pass and each parent's
    related manager is given its list, so `parent.delivery_reports.all()` reads no more. Children a row
    already has (prefetched elsewhere) are kept.
    """
    rows = list(rows)
    if not rows:
        return
    for spec in CHILDREN.get(type(rows[0]), ()):
        wanted = [row for row in rows if spec.name not in getattr(row, "_prefetched_objects_cache", {})]
        if not wanted:
            continue
        attname = spec.model._meta.get_field(spec.parent).attname
        by_parent = {row.pk: [] for row in wanted}
        children = spec.model._default_manager.filter(**{f"{attname}__in": list(by_parent)}).order_by(*spec.order)
        for child in children:
            by_parent[getattr(child, attname)].append(child)
        for row in wanted:
            cached = QuerySet(model=spec.model)
            cached._result_cache, cached._prefetch_done = by_parent[row.pk], True
            row.__dict__.setdefault("_prefetched_objects_cache", {})[spec.name] = cached


def _plain(value):
    """DRF's ReturnDict/ReturnList/OrderedDict as plain dicts and lists (JSON-ready, comparable, picklable)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def represent(obj) -> dict:
    """The read API's representation of `obj` (an outbound message, batch, inbound message, call, USSD session,
    airtime transaction, SIM swap check; an opt-out or subscription event, a call request), as a plain
    JSON-ready dict.

    Its children are read from the database here (a message's delivery reports, a call's timeline, a session's
    hops) unless `obj` came with them (`prefetch_children`). Raises TypeError for any other object.
    """
    serializer = SERIALIZERS.get(type(obj))
    if serializer is None:
        raise TypeError(f"the read API does not show {type(obj).__name__} objects")
    prefetch_children([obj])
    return _plain(serializer(obj).data)

"""The read API under /api/v1/: one read-only list and detail per object, and a subscriber's timeline.

- A DRF token (`Authorization: Token ...`) of an active staff user, or a staff session (the admin's login);
  anonymous requests are a 401.
- The view permission of the list's model (`sms.view_outboundmessage`, ...), as the admin's lists ask; the
  subscriber timeline shows the kinds of objects the user may view.
- Errors `{"error": "..."}`: 400 naming the parameter, 401, 403, 404.
- Lists in cursor pages by id, newest first (`api.pagination`), filtered by `api.filters`; each page is read
  in a fixed number of queries, whatever its size (the children are read for the whole page at once).
"""

from typing import ClassVar

from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.http import Http404, HttpResponse
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param
from rest_framework.views import APIView
from rest_framework.viewsets import ReadOnlyModelViewSet

from console import timeline
from hub.api import StaffTokenAuthentication
from hub.outbound import OutboundStatus
from hub.phones import normalize_phone
from sms.models import OutboundMessage

from . import serializers as api_serializers
from .filters import ApiFilters, HasChild, Integer, Phone, Status, time_filters
from .pagination import IdCursorPagination
from .schema import ERRORS

OUTBOUND_STATUSES = tuple(OutboundStatus.values)


class IsStaff(BasePermission):
    """Authenticated staff: a token is staff-only already; a session of a non-staff user is refused."""

    message = "Only staff may use the read API."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class CanViewModel(IsStaff):
    """Staff with the view permission of the view's model."""

    def has_permission(self, request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        opts = view.get_serializer_class().Meta.model._meta
        permission = f"{opts.app_label}.view_{opts.model_name}"
        if not request.user.has_perm(permission):
            self.message = f"You need the permission {permission!r}."
            return False
        return True


class ReadAPIView:
    """What every read endpoint shares: who may read, and errors as `{"error"}`."""

    authentication_classes = (StaffTokenAuthentication, SessionAuthentication)
    permission_classes = (CanViewModel,)


class ReadViewSet(ReadAPIView, ReadOnlyModelViewSet):
    """A list (cursor pages, filters) and a detail of one model, with their children."""

    pagination_class = IdCursorPagination
    filter_backends = (ApiFilters,)
    #: The list's query filters (api.filters).
    filters = ()

    def get_queryset(self):
        return self.get_serializer_class().Meta.model._default_manager.all()

    def filter_queryset(self, queryset):
        # Filters belong to the list; a detail is found by its id alone.
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def get_object(self):
        try:
            obj = super().get_object()
        except Http404:
            name = self.get_serializer_class().Meta.model._meta.verbose_name
            raise NotFound(f"No {name} with id {self.kwargs['pk'][:40]!r}.") from None
        self.complete([obj])
        return obj

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page:
            self.complete(page)
        return page

    def complete(self, rows: list) -> None:
        """Add to a page's rows what their serializer needs from other tables, for the whole page at once."""
        api_serializers.prefetch_children(rows)


def _list_and_detail(name: str, description: str):
    """The schema's words for a viewset's list and detail, its errors beside its serializer's answer."""

    def decorate(viewset):
        serializer = viewset.serializer_class
        return extend_schema_view(
            list=extend_schema(
                summary=f"List {name}", description=description, responses={200: serializer(many=True), **ERRORS}
            ),
            retrieve=extend_schema(summary=f"One of the {name}", responses={200: serializer, **ERRORS}),
        )(viewset)

    return decorate


@_list_and_detail("outbound SMS", "Each message to one recipient, with AT's delivery reports, newest first.")
class MessageViewSet(ReadViewSet):
    serializer_class = api_serializers.OutboundMessageSerializer
    filters = (
        Phone(lookup="phone"),
        Status(lookup="status__in", choices=OUTBOUND_STATUSES, description="Our status of the message."),
        *time_filters("created_at"),
        Integer(name="batch", lookup="batch_id", description="Only the messages of this batch (its id)."),
        Status(name="sender", lookup="sender__in", description="The sender id or shortcode it was sent from."),
    )


@_list_and_detail("SMS batches", "Each send (one text to one or more recipients) with its messages' statuses.")
class BatchViewSet(ReadViewSet):
    serializer_class = api_serializers.OutboundBatchSerializer
    filters = (
        HasChild(
            name="phone",
            lookup="",
            description="Only batches with a message to this number (any format).",
            related=OutboundMessage,
            parent="batch",
            inner=Phone(lookup="phone"),
        ),
        HasChild(
            name="status",
            lookup="",
            description="Only batches with a message in this status (several: comma-separated).",
            related=OutboundMessage,
            parent="batch",
            inner=Status(lookup="status__in", choices=OUTBOUND_STATUSES, description=""),
        ),
        *time_filters("created_at"),
        Status(name="sender", lookup="sender__in", description="The sender id or shortcode it was sent from."),
        Status(name="source", lookup="source__in", description="api, admin, reply, auto-reply or resend."),
    )

    def complete(self, rows):
        super().complete(rows)
        counts = {row.pk: {} for row in rows}
        per_status = (
            OutboundMessage.objects.filter(batch__in=list(counts))
            .order_by()
            .values_list("batch_id", "status")
            .annotate(n=Count("pk"))
        )
        for batch_id, status, n in per_status:
            counts[batch_id][status] = n
        for row in rows:
            row._status_counts = counts[row.pk]


@_list_and_detail("inbound SMS", "Messages subscribers sent to our shortcodes, newest first.")
class InboundViewSet(ReadViewSet):
    serializer_class = api_serializers.InboundMessageSerializer
    filters = (
        Phone(lookup="from_e164", description="The sender's number in any format."),
        Status(lookup="state__in", choices=("processed", "failed"), description="Whether its effect ran."),
        *time_filters("received_at"),
        Status(name="to", lookup="to_number__in", description="Our shortcode or number it was sent to."),
        Status(name="network", lookup="network_code__in", description="AT's network code, e.g. 63902."),
    )


@_list_and_detail("calls", "Inbound and outbound calls (AT's sessions), each with its timeline, newest first.")
class CallViewSet(ReadViewSet):
    serializer_class = api_serializers.CallSerializer
    filters = (
        Phone(lookup="phone_e164", description="The subscriber's number in any format."),
        Status(
            lookup="state__in",
            case_insensitive=True,
            description="active, or AT's final status (Completed, NotAnswered, ...), any case.",
        ),
        *time_filters("started_at"),
        Status(name="direction", lookup="direction__in", case_insensitive=True, description="Inbound or Outbound."),
    )


@_list_and_detail("USSD sessions", "USSD sessions, each with its hops (inputs and the screens answered).")
class UssdSessionViewSet(ReadViewSet):
    serializer_class = api_serializers.UssdSessionSerializer
    filters = (
        Phone(lookup="phone_e164"),
        Status(lookup="status__in", case_insensitive=True, description="AT's final status, e.g. Success, any case."),
        *time_filters("started_at"),
        Status(name="network", lookup="network_code__in", description="AT's network code, e.g. 63902."),
        Status(name="service_code", lookup="service_code__in", description="The USSD code dialled, e.g. *384*123#."),
    )


@_list_and_detail("airtime transactions", "Airtime sent to one recipient each, newest first.")
class AirtimeViewSet(ReadViewSet):
    serializer_class = api_serializers.AirtimeTransactionSerializer
    filters = (
        Phone(lookup="phone"),
        Status(lookup="status__in", choices=OUTBOUND_STATUSES, description="Our status of the transaction."),
        *time_filters("created_at"),
        Status(name="currency", lookup="currency__in", description="ISO 4217 code, e.g. KES."),
    )


@_list_and_detail("SIM swap checks", "SIM swap checks of one number each and their results, newest first.")
class SimSwapViewSet(ReadViewSet):
    serializer_class = api_serializers.SimSwapCheckSerializer
    filters = (
        Phone(lookup="phone"),
        Status(lookup="status__in", choices=OUTBOUND_STATUSES, description="Our status of the check."),
        *time_filters("created_at"),
        Status(name="network", lookup="network_code__in", description="AT's network code, e.g. 63902."),
        Status(name="swap_status", lookup="swap_status__in", case_insensitive=True, description="AT's result."),
    )


# --- The subscriber timeline ------------------------------------------------------------------------------------

TIMELINE_OBJECTS = {
    s.object_name: s
    for s in (
        api_serializers.OutboundMessageSerializer,
        api_serializers.InboundMessageSerializer,
        api_serializers.OptOutEventSerializer,
        api_serializers.SubscriptionEventSerializer,
        api_serializers.UssdSessionSerializer,
        api_serializers.CallSerializer,
        api_serializers.CallRequestSerializer,
        api_serializers.AirtimeTransactionSerializer,
        api_serializers.SimSwapCheckSerializer,
    )
}

TimelineSerializer = inline_serializer(
    "SubscriberTimeline",
    {
        "phone": serializers.CharField(help_text="The number, E.164."),
        "events": inline_serializer(
            "TimelineEvent",
            {
                "kind": serializers.ChoiceField([k.key for k in timeline.KINDS]),
                "time": api_serializers.UtcDateTimeField(),
                "data": PolymorphicProxySerializer(
                    component_name="TimelineObject",
                    serializers=TIMELINE_OBJECTS,
                    resource_type_field_name="object",
                ),
            },
            many=True,
        ),
        "opt_outs": inline_serializer(
            "ActiveOptOut",
            {"sender_id": serializers.CharField(), "opted_out_at": api_serializers.UtcDateTimeField()},
            many=True,
            allow_null=True,
            help_text="Sender ids it opted out of now; null without the view permission of opt-outs.",
        ),
        "subscriptions": inline_serializer(
            "ActiveSubscription",
            {
                "short_code": serializers.CharField(),
                "keyword": serializers.CharField(),
                "subscribed_at": api_serializers.UtcDateTimeField(allow_null=True),
            },
            many=True,
            allow_null=True,
            help_text="Premium subscriptions it holds now; null without the view permission of subscriptions.",
        ),
        "next": serializers.URLField(allow_null=True, help_text="The older page; null on the oldest."),
        "previous": serializers.URLField(allow_null=True, help_text="The newer page; null on the newest."),
    },
)


class PhoneTimelineView(ReadAPIView, APIView):
    """A subscriber's timeline: every product's objects of one number, newest first."""

    permission_classes = (IsStaff,)
    PARAMETERS = ("before", "after")

    @extend_schema(
        summary="A subscriber's timeline",
        description=(
            "Everything one number sent, was sent or did, every product, newest first, in pages of "
            f"{timeline.PER_PAGE} ordered by (time, kind, id): SMS out (with delivery reports) and in, opt-outs, "
            "subscriptions, USSD sessions (with hops), calls (with their timeline), call requests, airtime, "
            "SIM swap checks; and the opt-outs and subscriptions it holds now. Only the kinds the user may view. "
            "The number in any format (+254711000001, 254711000001, 0711000001 with AT_DEFAULT_COUNTRY_CODE)."
        ),
        parameters=[
            OpenApiParameter("before", str, description="Older than this event: the `next` link's value."),
            OpenApiParameter("after", str, description="Newer than this event: the `previous` link's value."),
        ],
        responses={200: TimelineSerializer, **ERRORS},
    )
    def get(self, request, number):
        e164 = normalize_phone(number)
        if e164 is None:
            raise ValidationError(f"{number[:40]!r} is not a phone number: give it as +254711000001")
        for name in request.query_params:
            if name not in self.PARAMETERS:
                raise ValidationError(f"Unknown parameter {name[:40]!r}: the timeline takes before or after")
        keys = {}
        for name in self.PARAMETERS:
            given = request.query_params.get(name)
            if given:
                keys[name] = timeline.decode_key(given)
                if keys[name] is None:
                    raise ValidationError(f"'{name}' is not a key of ours: use a `next` or `previous` link as given")
        access = timeline.Access(request, admin.site)
        page = timeline.page_of(e164, access, before=keys.get("before"), after=keys.get("after"))
        by_model = {}
        for event in page.events:
            by_model.setdefault(type(event.obj), []).append(event.obj)
        for rows in by_model.values():  # what the timeline left out for the admin (read once per kind)
            api_serializers.prefetch_children(rows)
        when = api_serializers.UtcDateTimeField()
        state = timeline.current_state(e164, access)
        url = remove_query_param(remove_query_param(request.build_absolute_uri(), "before"), "after")
        body = {
            "phone": e164,
            "events": [
                {
                    "kind": event.kind.key,
                    "time": when.to_representation(event.time),
                    "data": api_serializers.SERIALIZERS[type(event.obj)](event.obj).data,
                }
                for event in page.events
            ],
            "opt_outs": None
            if state["opt_outs"] is None
            else [
                {"sender_id": o.sender_id, "opted_out_at": when.to_representation(o.opted_out_at)}
                for o, _url in state["opt_outs"]
            ],
            "subscriptions": None
            if state["subscriptions"] is None
            else [
                {
                    "short_code": s.short_code,
                    "keyword": s.keyword,
                    "subscribed_at": s.subscribed_at and when.to_representation(s.subscribed_at),
                }
                for s, _url in state["subscriptions"]
            ],
            "next": replace_query_param(url, "before", page.older) if page.older else None,
            "previous": None
            if page.newer is None
            else (replace_query_param(url, "after", page.newer) if page.newer else url),
        }
        return Response(body)


# --- The schema -------------------------------------------------------------------------------------------------


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema, generated and rendered once per process and format.

    It changes only with the code, and generating it takes half a second of CPU: served to anyone, it must not
    cost that per request. The key holds the URLconf (a test serving other URLs gets their schema).
    """

    _answers: ClassVar[dict] = {}

    @extend_schema(exclude=True)  # the schema does not list itself
    def get(self, request, *args, **kwargs):
        key = (settings.ROOT_URLCONF, request.accepted_media_type)
        answer = self._answers.get(key)
        if answer is None:
            response = self.finalize_response(request, super().get(request, *args, **kwargs))
            response.render()
            answer = (response.content, response["Content-Type"], response["Content-Disposition"])
            self._answers[key] = answer
        content, content_type, disposition = answer
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})

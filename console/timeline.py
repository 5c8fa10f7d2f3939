"""The subscriber timeline at /admin/phone/<number>/: everything one number sent, was sent or did, every product,
newest first; the subscriber's opt-outs and subscriptions; the actions staff take on a number.

Pages are cut by keyset, not by page number: the events are ordered by (time, kind, id), newest first, and a
page's "Older" link carries the key of its last event (`?before=`), "Newer" the key of its first (`?after=`).
Rows that arrive meanwhile land on the first page and move nothing on the others. Each product is read once per
page: its rows past the key, `PER_PAGE + 1` of them at most (the one more tells whether there is an older page);
the children of the rows the page shows (delivery reports, USSD hops, call instructions and events, call
requests) are read once per kind. A page costs as many queries for ten events as for a million.

Staff see the products they may view (Django's view permission, as in the admin's lists): a number with nothing
they may see is an empty page, never an error.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db.models import Prefetch, Q, prefetch_related_objects
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from hub.admin import PhoneActionsMixin
from hub.phones import normalize_phone

PER_PAGE = 50

#: The actions of hub.admin.phone_action the timeline offers, by function name, and the lists they are
#: best run from (their confirmation pages lead back there); any list with the subscriber's rows does otherwise.
PHONE_ACTIONS = {
    "call_back": ("voice.Call", "voice.OutboundCall"),
    "send_airtime": ("airtime.AirtimeTransaction",),
    "check_sim_swap": ("simswap.SimSwapCheck",),
}


@dataclass(frozen=True)
class Child:
    """Rows under an event: `name` is the related name, `model` the label whose view permission shows them."""

    name: str
    model: str
    order_by: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    """One kind of event: the rows of `model` whose `phone_field` is the subscriber's number, at `time_field`."""

    key: str
    label: str
    model: str
    phone_field: str
    time_field: str
    related: tuple[str, ...] = ()
    children: tuple[Child, ...] = ()

    @property
    def model_class(self):
        return apps.get_model(self.model)


KINDS = (
    Kind(
        "sms-out",
        _("SMS out"),
        "sms.OutboundMessage",
        "phone",
        "created_at",
        related=("batch", "in_reply_to"),
        children=(Child("delivery_reports", "sms.DeliveryReport", ("received_at", "pk")),),
    ),
    Kind("sms-in", _("SMS in"), "sms.InboundMessage", "from_e164", "received_at"),
    Kind("opt-out", _("Opt-out"), "sms.OptOutEvent", "phone_e164", "received_at"),
    Kind("subscription", _("Subscription"), "sms.SubscriptionEvent", "phone_e164", "received_at"),
    Kind(
        "ussd",
        _("USSD session"),
        "ussd.UssdSession",
        "phone_e164",
        "started_at",
        children=(Child("hops", "ussd.UssdHop", ("received_at", "pk")),),
    ),
    Kind(
        "call",
        _("Call"),
        "voice.Call",
        "phone_e164",
        "started_at",
        children=(
            Child("instructions", "voice.VoiceInstruction", ("received_at", "pk")),
            Child("events", "voice.VoiceEvent", ("received_at", "pk")),
            Child("outbound_requests", "voice.OutboundCall", ("created_at", "pk")),
        ),
    ),
    Kind("call-request", _("Call request"), "voice.OutboundCall", "phone", "created_at", related=("call",)),
    Kind("airtime", _("Airtime"), "airtime.AirtimeTransaction", "phone", "created_at"),
    Kind("sim-swap", _("SIM swap check"), "simswap.SimSwapCheck", "phone", "created_at"),
)
RANK = {kind.key: rank for rank, kind in enumerate(KINDS)}
BY_KEY = {kind.key: kind for kind in KINDS}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


# --- Keys of the page boundaries ---------------------------------------------------------------


def encode_key(key: tuple) -> str:
    """(time, rank, pk) as the text of a link: "<microseconds since 1970>~<kind>~<pk>"."""
    moment, rank, pk = key
    return f"{(moment - _EPOCH) // _MICROSECOND}~{KINDS[rank].key}~{pk}"


def decode_key(text: str) -> tuple | None:
    """The (time, rank, pk) of `encode_key`'s text; None for anything else."""
    try:
        micros, kind, pk = text.split("~")
        return _EPOCH + int(micros) * _MICROSECOND, RANK[kind], int(pk)
    except (ValueError, KeyError, OverflowError):
        return None


# --- Who may see what --------------------------------------------------------------------------


class Access:
    """What the request's user may see on this site, asked once per model."""

    def __init__(self, request, site):
        self.request, self.site = request, site
        self._views: dict = {}
        self._actions: dict = {}

    def can_view(self, model) -> bool:
        if isinstance(model, str):
            model = apps.get_model(model)
        if model not in self._views:
            model_admin = self.site._registry.get(model)
            if model_admin is not None:
                self._views[model] = model_admin.has_view_permission(self.request)
            else:
                opts = model._meta
                self._views[model] = self.request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}")
        return self._views[model]

    def url(self, obj) -> str | None:
        """The admin page of `obj`, for those who may view it."""
        if obj is None or not self.can_view(type(obj)):
            return None
        opts = obj._meta
        try:
            return reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk], current_app=self.site.name
            )
        except NoReverseMatch:
            return None

    def actions(self, model) -> dict:
        """The changelist actions of `model` the user may run (Django's get_actions: permissions applied)."""
        if model not in self._actions:
            model_admin = self.site._registry.get(model)
            self._actions[model] = model_admin.get_actions(self.request) if model_admin is not None else {}
        return self._actions[model]


# --- The events ---------------------------------------------------------------------------------


@dataclass
class Event:
    kind: Kind
    time: datetime
    obj: object
    url: str | None = None
    #: What the event's row holds under it, each a list of Step; None when the user may not see it.
    steps: list | None = None
    reports: list | None = None
    requests: list | None = None
    #: Admin pages of the rows it points to ("in_reply_to" of a reply, "call" of a call request).
    links: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.time, RANK[self.kind.key], self.obj.pk)

    @property
    def cursor(self) -> str:
        return encode_key(self.key)


@dataclass
class Step:
    """A row under an event (a report, a hop, a call's instruction or event), with its admin link."""

    time: datetime
    label: str
    obj: object
    url: str | None = None


@dataclass
class Page:
    events: list = field(default_factory=list)
    newer: str | None = None  # ?after= of the newer page ("": the newest page); None: this is the newest
    older: str | None = None  # ?before= of the older page; None: this is the oldest


def _window(kind: Kind, e164: str, key: tuple | None, older: bool, limit: int) -> list:
    """The newest (`older`) or oldest rows of `kind` for `e164` past `key`, in the order of the timeline's keys."""
    model = kind.model_class
    rows = model._default_manager.filter(**{kind.phone_field: e164})
    if kind.related:
        rows = rows.select_related(*kind.related)
    t = kind.time_field
    if key is not None:
        moment, rank, pk = key
        mine = RANK[kind.key]
        beyond, beyond_or_at = ("lt", "lte") if older else ("gt", "gte")
        if mine == rank:
            rows = rows.filter(Q(**{f"{t}__{beyond}": moment}) | Q(**{t: moment, f"pk__{beyond}": pk}))
        elif (mine < rank) if older else (mine > rank):
            rows = rows.filter(**{f"{t}__{beyond_or_at}": moment})  # its rows at the key's very time are past it
        else:
            rows = rows.filter(**{f"{t}__{beyond}": moment})
    order = (f"-{t}", "-pk") if older else (t, "pk")
    return list(rows.order_by(*order)[:limit])


def page_of(e164: str, access: Access, *, before: tuple | None = None, after: tuple | None = None) -> Page:
    """One page of the subscriber's events: the newest, those older than `before`, or those newer than `after`."""
    older = after is None
    key = after if after is not None else before
    events = []
    for kind in KINDS:
        if access.can_view(kind.model):
            for obj in _window(kind, e164, key, older, PER_PAGE + 1):
                events.append(Event(kind, getattr(obj, kind.time_field), obj))
    events.sort(key=lambda e: e.key, reverse=older)
    more = len(events) > PER_PAGE
    events = events[:PER_PAGE]
    if not older:
        if not more:  # nothing newer than these: that is the newest page, shown whole
            return page_of(e164, access)
        events.reverse()
    page = Page(events)
    if events:
        page.older = events[-1].cursor if more or not older else None
        page.newer = events[0].cursor if key is not None else None
    elif key is not None:
        page.newer = ""  # past the oldest event: back to the newest
    _complete(page.events, access)
    return page


def _complete(events: list, access: Access) -> None:
    """Links, and the children of the page's events (read once per kind, for the permitted children only)."""
    for kind in KINDS:
        mine = [e for e in events if e.kind is kind]
        if not mine:
            continue
        shown = [c for c in kind.children if access.can_view(c.model)]
        lookups = [
            Prefetch(c.name, queryset=apps.get_model(c.model)._default_manager.order_by(*c.order_by)) for c in shown
        ]
        if lookups:
            prefetch_related_objects([e.obj for e in mine], *lookups)
        names = {c.name for c in shown}
        for event in mine:
            event.url = access.url(event.obj)
            obj = event.obj
            for name in kind.related:
                event.links[name] = access.url(getattr(obj, name))
            if "delivery_reports" in names:
                event.reports = [Step(r.received_at, r.status, r, access.url(r)) for r in obj.delivery_reports.all()]
            if "hops" in names:
                event.steps = [Step(h.received_at, h.text, h, access.url(h)) for h in obj.hops.all()]
            if kind.key == "call":
                steps = []
                if "instructions" in names:
                    steps += [Step(i.received_at, _("instructions"), i, access.url(i)) for i in obj.instructions.all()]
                if "events" in names:
                    steps += [Step(v.received_at, _("event"), v, access.url(v)) for v in obj.events.all()]
                if {"instructions", "events"} & names:
                    event.steps = sorted(steps, key=lambda s: (s.time, s.obj.pk))
                if "outbound_requests" in names:
                    event.requests = [
                        Step(r.created_at, r.get_status_display(), r, access.url(r))
                        for r in obj.outbound_requests.all()
                    ]


# --- The subscriber's state and the actions on the number -------------------------------------------


def current_state(e164: str, access: Access) -> dict:
    """Which sender ids the number opted out of, and which (shortcode, keyword) it is subscribed to, now."""
    from sms.models import OptOut, Subscription

    state = {"opt_outs": None, "subscriptions": None}
    if access.can_view(OptOut):
        state["opt_outs"] = [
            (o, access.url(o)) for o in OptOut.objects.filter(phone=e164, active=True).order_by("sender_id")
        ]
    if access.can_view(Subscription):
        state["subscriptions"] = [
            (s, access.url(s))
            for s in Subscription.objects.filter(phone=e164, active=True).order_by("short_code", "keyword")
        ]
    return state


def phone_actions(e164: str, events: list, access: Access) -> list[dict]:
    """Call back, Send airtime, Check SIM swap: each posted to the changelist of one of the page's rows.

    The row is the newest of the action's own product whose list offers it to this user (Django's actions, their
    permissions checked again when posted), else the newest of any such list; the action then shows its own
    form or confirmation page before it does anything.
    """
    offered = []
    for name, preferred in PHONE_ACTIONS.items():
        # In the order of `preferred`, then the rest; sorted() is stable: newest first within each.
        ranked = sorted(events, key=lambda e: preferred.index(e.kind.model) if e.kind.model in preferred else 99)
        for event in ranked:
            model = type(event.obj)
            model_admin = access.site._registry.get(model)
            if not isinstance(model_admin, PhoneActionsMixin) or getattr(event.obj, model_admin.phone_field) != e164:
                continue
            action = access.actions(model).get(name)
            if action is not None:
                opts = model._meta
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=access.site.name)
                offered.append({"name": name, "label": action[2], "url": url, "pk": event.obj.pk})
                break
    return offered


def compose_form(e164: str, access: Access):
    """The SMS compose form with the number filled in (posted to the compose page's preview), or None."""
    from sms.forms import ComposeForm
    from sms.models import OutboundBatch

    model_admin = access.site._registry.get(OutboundBatch)
    can_send = getattr(model_admin, "has_send_permission", None)
    if model_admin is None or can_send is None or not can_send(access.request):
        return None
    try:
        url = reverse("admin:sms_outboundbatch_compose", current_app=access.site.name)
    except NoReverseMatch:
        return None
    return {"url": url, "form": ComposeForm(initial={"numbers": e164})}


# --- The views -----------------------------------------------------------------------------------


def _not_a_number(number: str) -> str:
    if number.strip().startswith("0") and not settings.AT_DEFAULT_COUNTRY_CODE and number.strip()[1:2] != "0":
        return _(
            "%(number)s is a local number: give it with its country code (+254...), or set AT_DEFAULT_COUNTRY_CODE."
        ) % {"number": number}
    return _("%(number)s is not a phone number. Give it as +254711000001, 254711000001 or 0711 000 001.") % {
        "number": number
    }


def _search_page(request, site, number: str = "", error: str = "", status: int = 200):
    context = {
        **site.each_context(request),
        "title": _("Subscriber history"),
        "number": number,
        "error": error,
    }
    return TemplateResponse(request, "admin/console/phone_search.html", context, status=status)


def search_view(request):
    """`GET /admin/phone/?number=...`: to the timeline of the number, normalised; the form again if it is none."""
    site = admin.site
    request.current_app = site.name
    number = (request.GET.get("number") or request.POST.get("number") or "").strip()
    if not number:
        return _search_page(request, site)
    e164 = normalize_phone(number)
    if e164 is None:
        return _search_page(request, site, number, _not_a_number(number), status=400)
    return HttpResponseRedirect(reverse("admin:phone", args=[e164], current_app=site.name))


def phone_view(request, number):
    """`GET /admin/phone/<number>/`: the subscriber's timeline (`?before=` / `?after=` for older and newer pages)."""
    site = admin.site
    request.current_app = site.name
    e164 = normalize_phone(number)
    if e164 is None:
        return _search_page(request, site, number, _not_a_number(number), status=400)
    access = Access(request, site)
    before = decode_key(request.GET.get("before", ""))
    after = decode_key(request.GET.get("after", "")) if before is None else None
    page = page_of(e164, access, before=before, after=after)
    context = {
        **site.each_context(request),
        "title": _("Subscriber %(number)s") % {"number": e164},
        "e164": e164,
        "page": page,
        "first_page": before is None and after is None,
        "state": current_state(e164, access),
        "actions": phone_actions(e164, page.events, access),
        "compose": compose_form(e164, access),
        "time_zone": settings.TIME_ZONE,
        "per_page": PER_PAGE,
    }
    return TemplateResponse(request, "admin/console/phone.html", context)

"""The callback kinds: name → model, URL, view and effects, for ingestion, tests, the admin and commands.

Apps mount their callbacks with `hub.callbacks.mount.callback_path()` in their
`urls.py`, naming the kind's effect there (`effect=services.apply_delivery_report`);
that is also what registers the kind, so the registry and the URLconf cannot
disagree, and models import no services.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.backends.base.base import BaseDatabaseWrapper
from django.urls import get_resolver, reverse
from rest_framework.views import APIView

from .models import Arrival, CallbackEvent, InsertEffect

#: The kind's event model.
E = TypeVar("E", bound=CallbackEvent)

#: A callback's effect on the rest of the system: runs once, in the row's transaction (what it returns is ignored).
Effect = Callable[[E, Arrival], object]
#: The effect of an interactive callback replayed from the spool: its caller got `answer` meanwhile.
AnsweredEffect = Callable[[E, str, Arrival], object]
#: The effect as SQL run in the storing INSERT itself (PostgreSQL), from the row's values and the
#: connection it will run on; or None.
InsertEffectFactory = Callable[[dict[str, Any], BaseDatabaseWrapper], InsertEffect | None]

_kinds: dict[str, "CallbackKind[Any]"] = {}


@dataclass(frozen=True)
class CallbackKind(Generic[E]):
    #: "<app label>.<url name>", e.g. "sms.delivery-reports"
    name: str
    model: type[E]
    #: The view class (`hub.callbacks.views.CallbackView` or a subclass).
    view: type[APIView]
    url_name: str
    effect: Effect[E] | None = None
    #: For the busiest kinds: `effect` written as SQL in the INSERT (one round trip). It must do exactly what
    #: `effect` does, which still serves everywhere else (SQLite, reprocessing, and when that statement fails).
    insert_effect: InsertEffectFactory | None = None
    #: For interactive kinds: record the answer the caller got while the database was down.
    answered_effect: AnsweredEffect[E] | None = None

    @property
    def path(self) -> str:
        return reverse(self.url_name)

    def apply(self, event: E, arrival: Arrival, *, answered: str | None = None) -> None:
        """Run the kind's effect on a stored row (the answered one for a replayed interactive callback)."""
        if answered is not None and self.answered_effect is not None:
            self.answered_effect(event, answered, arrival)
        elif self.effect is not None:
            self.effect(event, arrival)


def register(kind: CallbackKind[Any]) -> None:
    """Add `kind` to the registry (`hub.callbacks.mount.callback_path` does, as it mounts the kind)."""
    _kinds[kind.name] = kind


def kinds() -> dict[str, CallbackKind[Any]]:
    """Every registered kind (loading the URLconf first, which registers them)."""
    get_resolver().url_patterns  # noqa: B018 - importing the URLconf fills the registry
    return dict(sorted(_kinds.items()))


def kind_for(model: type[E]) -> CallbackKind[E]:
    """The kind whose rows `model` holds (each model is mounted once)."""
    for kind in kinds().values():
        if kind.model is model:
            return kind
    raise LookupError(f"{model._meta.label} is not mounted with callback_path()")

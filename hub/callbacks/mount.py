"""Mounting a callback kind: its URL pattern, its view and its effects, registered in one call."""

from django.urls import URLPattern, path

from .registry import AnsweredEffect, CallbackKind, E, Effect, InsertEffectFactory, register
from .views import CallbackView


def callback_path(
    route: str,
    model: type[E],
    *,
    name: str,
    view: type[CallbackView] | None = None,
    effect: Effect[E] | None = None,
    insert_effect: InsertEffectFactory | None = None,
    answered_effect: AnsweredEffect[E] | None = None,
) -> URLPattern:
    """A URL pattern for a callback of kind `model` with its effects, registered as `<app label>.<name>`."""
    view = view or CallbackView
    app_label = model._meta.app_label
    kind = CallbackKind(
        name=f"{app_label}.{name}",
        model=model,
        view=view,
        url_name=f"{app_label}:{name}",
        effect=effect,
        insert_effect=insert_effect,
        answered_effect=answered_effect,
    )
    register(kind)
    return path(route, view.as_view(kind=kind), name=name)

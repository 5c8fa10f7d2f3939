"""The callback kinds: name → model, URL and view, for tests, the admin and commands.

Apps mount their callbacks with `callback_path()` in their `urls.py`; that is also
what registers the kind, so the registry and the URLconf cannot disagree.
"""

from dataclasses import dataclass

from django.urls import get_resolver, path, reverse

_kinds: dict[str, "CallbackKind"] = {}


@dataclass(frozen=True)
class CallbackKind:
    #: "<app label>.<url name>", e.g. "sms.delivery-reports"
    name: str
    model: type
    view: type
    url_name: str

    @property
    def path(self) -> str:
        return reverse(self.url_name)


def callback_path(route: str, model, *, name: str, view=None):
    """A URL pattern for a callback of kind `model`, registered as `<app label>.<name>`."""
    from .views import CallbackView

    view = view or CallbackView
    app_label = model._meta.app_label
    kind = CallbackKind(name=f"{app_label}.{name}", model=model, view=view, url_name=f"{app_label}:{name}")
    _kinds[kind.name] = kind
    return path(route, view.as_view(model=model, kind_name=kind.name), name=name)


def kinds() -> dict[str, CallbackKind]:
    """Every registered kind (loading the URLconf first, which registers them)."""
    get_resolver().url_patterns  # noqa: B018 - importing the URLconf fills the registry
    return dict(sorted(_kinds.items()))

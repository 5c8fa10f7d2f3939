"""Python screens: the functions developers register, for staff to pick in the admin.

A screen whose answer needs code (a balance, a lookup) names a handler. Staff
choose it from this registry; nothing they type is ever imported. Developers
register a function with the decorator, in their app's `ussd_handlers.py`
(imported when Django starts, like `admin.py`):

    from ussd.handlers import screen_handler

    @screen_handler(label="Account balance")
    def balance(hop):
        return f"END Your balance is KES {lookup(hop.phone_number)}"

The handler receives a `ussd.menus.Hop` and returns the whole answer, 'CON ...'
or 'END ...'.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _

#: The module of an installed app where its handlers live.
MODULE_NAME = "ussd_handlers"

NO_HANDLER = ("", _("— none: show the text —"))


@dataclass(frozen=True)
class RegisteredHandler:
    name: str
    #: May be a lazy translation: read in the staff's language.
    label: str
    function: Callable


_registry: dict[str, RegisteredHandler] = {}


def dotted_path(function: Callable) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def screen_handler(function: Callable | None = None, *, name: str = "", label: str = ""):
    """Register a screen handler, as `@screen_handler` or `@screen_handler(label=..., name=...)`.

    `name` is what a screen stores (default: the function's dotted path, so
    that screens naming a function by its path keep working); `label` is what
    staff read in the list (default: the name).
    """

    def register(function: Callable) -> Callable:
        if not callable(function):
            raise ImproperlyConfigured(f"a USSD screen handler must be callable, not {function!r}")
        key = name or dotted_path(function)
        known = _registry.get(key)
        # The same function registered again (its module reloaded) replaces itself; another one is a mistake.
        if known is not None and dotted_path(known.function) != dotted_path(function):
            raise ImproperlyConfigured(f"USSD screen handler name {key!r} is taken by {dotted_path(known.function)}")
        _registry[key] = RegisteredHandler(name=key, label=label or key, function=function)
        return function

    return register(function) if function is not None else register


def registered(name: str) -> RegisteredHandler | None:
    """The handler registered under `name`, or None."""
    return _registry.get(name)


def choices() -> list[tuple[str, str]]:
    """What staff pick from: "none", then every registered handler by label."""
    handlers = sorted(_registry.values(), key=lambda h: (str(h.label).lower(), h.name))
    return [NO_HANDLER, *((h.name, h.label) for h in handlers)]


def autodiscover() -> None:
    """Import the `ussd_handlers` module of every installed app (called when Django starts)."""
    autodiscover_modules(MODULE_NAME)

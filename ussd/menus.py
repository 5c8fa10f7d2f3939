"""Answering a USSD hop from a menu: walk AT's input path from the root, render the screen.

Menus are read from the database once per process and version (`Menu.version`
changes with every edit), so a hop costs one query for the menu and a change in
the admin answers from the next hop on, in every process. A screen with a
handler is answered by the function registered under that name
(`ussd.handlers`); a handler that fails gives the caller the apology, never
the worker's life.
"""

import logging
import re
import threading
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db import connection

from .handlers import registered
from .models import Menu, Option, Screen, ScreenAction, screen_length_error

logger = logging.getLogger("atproject.ussd")

INVALID_CHOICE = "END Invalid choice"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Hop:
    """What a Python screen handler receives."""

    session_id: str
    phone_number: str
    service_code: str
    network_code: str
    text: str
    inputs: tuple[str, ...]
    screen: str = ""

    @property
    def last_input(self) -> str:
        return self.inputs[-1] if self.inputs else ""


@dataclass
class LoadedMenu:
    root: int | None
    invalid: int | None
    screens: dict[int, Screen] = field(default_factory=dict)
    options: dict[int, dict[str, int]] = field(default_factory=dict)


class ScreenHandlerError(Exception):
    """A screen's handler is not registered, raised, or answered something that is not a screen."""


#: Menus loaded by this process, by (menu id, version); gunicorn's threads share it.
_loaded: dict[tuple[int, str], LoadedMenu] = {}
#: Held to check, load and evict (reading a present key needs no lock: a dict lookup is atomic).
_loading = threading.Lock()


@cache
def _menu_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in ("id", "version", "root_id", "invalid_id"))
    return (
        f"SELECT {columns} FROM {quote(Menu._meta.db_table)} "  # noqa: S608 - quoted names from meta
        f"WHERE {quote('service_code')} = %s OR {quote('is_default')} "
        f"ORDER BY {quote('is_default')} LIMIT 1"  # a menu for the code wins over the default
    )


def menu_for(service_code: str) -> LoadedMenu | None:
    """The menu for a service code (else the default), loaded once per process and version.

    Every hop asks for it, so the query is plain SQL: the ORM took longer to
    build it than the database to answer it.
    """
    with connection.cursor() as cursor:
        cursor.execute(_menu_sql(connection.vendor), [service_code])
        row = cursor.fetchone()
    if row is None:
        return None
    menu_id, version, root_id, invalid_id = row
    key = (menu_id, str(version))
    loaded = _loaded.get(key)
    if loaded is None:
        loaded = _load(key, root_id, invalid_id)
    return loaded


def _load(key: tuple[int, str], root_id: int | None, invalid_id: int | None) -> LoadedMenu:
    """Read a menu's screens and options once, replacing the menu's older versions."""
    menu_id = key[0]
    with _loading:
        loaded = _loaded.get(key)  # another thread may have loaded it while this one waited
        if loaded is not None:
            return loaded
        loaded = LoadedMenu(root=root_id, invalid=invalid_id)
        for screen in Screen.objects.filter(menu_id=menu_id):
            loaded.screens[screen.pk] = screen
            loaded.options[screen.pk] = {}
        for option in Option.objects.filter(screen__menu_id=menu_id):
            loaded.options[option.screen_id][option.input.strip()] = option.next_screen_id
        for old in [k for k in _loaded if k[0] == menu_id]:
            del _loaded[old]
        _loaded[key] = loaded
        return loaded


def walk(loaded: LoadedMenu, inputs: list[str]) -> Screen | None:
    """The screen the inputs lead to from the root; None when an input is not expected."""
    screen_id = loaded.root
    for given in inputs:
        screen = loaded.screens.get(screen_id)
        if screen is None or screen.action == ScreenAction.END:
            return None
        choices = loaded.options.get(screen_id, {})
        screen_id = choices.get(given.strip(), choices.get("*"))
        if screen_id is None:
            return None
    return loaded.screens.get(screen_id)


def render(screen: Screen, hop: Hop) -> str:
    context = {
        "phone_number": hop.phone_number,
        "service_code": hop.service_code,
        "session_id": hop.session_id,
        "network_code": hop.network_code,
        "input": hop.last_input,
        "text": hop.text,
    }
    text = _PLACEHOLDER.sub(lambda m: context.get(m.group(1), m.group(0)), screen.text)
    return f"{screen.action} {text}"


def answer(hop: Hop) -> str:
    """The screen for a hop: 'CON ...' or 'END ...'. Raises on an internal failure (the caller answers END)."""
    loaded = menu_for(hop.service_code)
    if loaded is None or loaded.root is None:
        raise LookupError(f"no USSD menu for {hop.service_code!r} and no default menu")
    screen = walk(loaded, list(hop.inputs))
    if screen is None:
        invalid = loaded.screens.get(loaded.invalid)
        return render(invalid, hop) if invalid else INVALID_CHOICE
    response = run_handler(screen, hop) if screen.handler else render(screen, hop)
    error = screen_length_error(response[4:])
    if error:
        logger.warning("USSD screen %r is too long for a phone: %s", screen.name, error)
    return response


def run_handler(screen: Screen, hop: Hop) -> str:
    """The answer of the screen's registered handler; ScreenHandlerError for anything else.

    Whatever the handler raises (SystemExit included, not KeyboardInterrupt) is
    one error: the hop is stored failed and the caller reads the apology.
    """
    handler = registered(screen.handler)
    if handler is None:
        raise ScreenHandlerError(f"handler {screen.handler} is not registered")
    try:
        result = handler.function(Hop(**{**hop.__dict__, "screen": screen.name}))
    except (Exception, SystemExit) as exc:
        raise ScreenHandlerError(f"handler {screen.handler} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(result, str):
        raise ScreenHandlerError(
            f"handler {screen.handler} must return 'CON ...' or 'END ...', not {type(result).__name__}"
        )
    if not result.startswith(("CON ", "END ")):
        # Only the start: the answer may carry the caller's details.
        raise ScreenHandlerError(f"handler {screen.handler} must return 'CON ...' or 'END ...', not {result[:4]!r}...")
    return result


def error_answer() -> str:
    return f"END {settings.AT_USSD_ERROR_TEXT}"


def inputs_of(text: str) -> tuple[str, ...]:
    """AT's `text`: "" at the start, then every input joined by '*'."""
    return tuple(text.split("*")) if text else ()

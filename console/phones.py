"""Phone numbers in the admin: which fields hold a subscriber's number, and every one shown as a link to the
subscriber's timeline (/admin/phone/<number>/).

`link_phone_numbers()` runs once from `ConsoleConfig.ready()`, when the admin has discovered every app's admin
module. It changes the registered ModelAdmin *instances* (never their classes, never the apps' admin.py):

- a `list_display` entry naming a subscriber's phone field becomes a column of the same title, CSS class and
  ordering that renders `hub.admin.phone_link(value)`; when that column was the one linking to the row
  (the first, by default), the row link moves to the next column, since a link cannot hold another;
- on detail pages, the same field where it is read-only (named in the read-only fields, or the whole page is
  view-only) is shown through the same callable, in its place.

Columns the ModelAdmins build with their own callables are left alone, and so are our own numbers (a shortcode,
our AT number): they live in fields with other names (`to_number`, `destination_number`, `number`), except
`OutboundCall.from_number`, listed in OUR_NUMBERS.
"""

from django.db import models

#: Names of the fields that hold a subscriber's number (as given, or its E.164 form).
SUBSCRIBER_FIELD_NAMES = frozenset({"phone", "phone_number", "phone_e164", "from_number", "from_e164", "caller_number"})
#: Fields named like a subscriber's number that hold ours ("app_label.Model.field").
OUR_NUMBERS = frozenset({"voice.OutboundCall.from_number"})

_fields_cache: dict = {}


def phone_fields(model) -> tuple[str, ...]:
    """The names of `model`'s fields holding a subscriber's phone number, in the model's order."""
    if model not in _fields_cache:
        _fields_cache[model] = tuple(
            field.name
            for field in model._meta.concrete_fields
            if field.name in SUBSCRIBER_FIELD_NAMES
            and isinstance(field, models.CharField)
            and f"{model._meta.label}.{field.name}" not in OUR_NUMBERS
        )
    return _fields_cache[model]


def has_phone_numbers(model) -> bool:
    """Whether rows of `model` carry a subscriber's number (its lists offer the subscriber search)."""
    return bool(phone_fields(model))


def phone_column(model, name: str):
    """A display callable for `model.name`: the number as a link to its timeline, titled and ordered as the field."""
    from hub.admin import phone_link

    field = model._meta.get_field(name)

    def show(obj):
        return phone_link(getattr(obj, name))

    # The field's name: Django derives the column's CSS class (column-<name>, field-<name>) and the detail
    # page's help text from it, as for the field itself.
    show.__name__ = show.__qualname__ = name
    show.short_description = field.verbose_name
    show.admin_order_field = name
    #: The field the column shows, for code that wants the raw value (an export) rather than the link.
    show.phone_field = name
    return show


def link_phone_numbers(site=None) -> int:
    """Make every subscriber's number in `site`'s lists and read-only detail fields a timeline link.

    Returns how many ModelAdmins were changed; running it again changes nothing.
    """
    if site is None:
        from django.contrib.admin import site
    changed = 0
    for model, model_admin in site._registry.items():
        names = phone_fields(model)
        if not names or getattr(model_admin, "_console_phone_links", False):
            continue
        columns = {name: phone_column(model, name) for name in names}
        _link_list(model_admin, columns)
        _link_detail(model_admin, columns)
        model_admin._console_phone_links = True
        changed += 1
    return changed


def _link_list(model_admin, columns: dict) -> None:
    display = list(model_admin.list_display)
    editable = set(model_admin.list_editable or ())
    links = model_admin.list_display_links
    explicit = set(links or ())  # a column the ModelAdmin chose as its row link stays as it is
    replace = {
        i
        for i, item in enumerate(display)
        if isinstance(item, str) and item in columns and item not in editable and item not in explicit
    }
    if not replace:
        return
    if links is not None and not links and 0 in replace:
        # Django links the first column to the row: give that link to the next column that can take it.
        others = [
            item
            for i, item in enumerate(display)
            if i not in replace and item != "action_checkbox" and item not in editable
        ]
        if others:
            model_admin.list_display_links = (others[0],)
        else:
            replace.discard(0)
    model_admin.list_display = tuple(columns[item] if i in replace else item for i, item in enumerate(display))


def _link_detail(model_admin, columns: dict) -> None:
    """Wrap the instance's get_readonly_fields and get_fieldsets so that read-only phone fields use the columns.

    Both must agree: the form excludes what get_readonly_fields names, and the page shows what get_fieldsets
    names, so a field swapped for its callable in one is swapped in the other.
    """
    original_readonly = model_admin.get_readonly_fields
    original_fieldsets = model_admin.get_fieldsets
    ours = set(columns.values())

    def linked(request, obj, readonly) -> set:
        view_only = obj is not None and not model_admin.has_change_permission(request, obj)
        return {name for name in columns if view_only or name in readonly}

    def get_readonly_fields(request, obj=None):
        readonly = list(original_readonly(request, obj))
        names = linked(request, obj, readonly)
        swapped = [columns[f] if isinstance(f, str) and f in names else f for f in readonly]
        # On a view-only page a phone field may be a form field: its column must still be excluded from the form.
        return (*swapped, *(columns[n] for n in columns if n in names and columns[n] not in swapped))

    def get_fieldsets(request, obj=None):
        fieldsets = original_fieldsets(request, obj)
        names = linked(request, obj, list(original_readonly(request, obj)))
        if not names:
            return fieldsets
        seen = set()

        def swap(item):
            if isinstance(item, (list, tuple)):  # fields shown on one line
                row = tuple(x for x in map(swap, item) if x is not None)
                return row or None
            new = columns[item] if isinstance(item, str) and item in names else item
            if new in ours:
                if new in seen:  # the field, and its column added to the read-only fields: shown once
                    return None
                seen.add(new)
            return new

        return [
            (title, {**options, "fields": [x for x in map(swap, options.get("fields", ())) if x is not None]})
            for title, options in fieldsets
        ]

    model_admin.get_readonly_fields = get_readonly_fields
    model_admin.get_fieldsets = get_fieldsets

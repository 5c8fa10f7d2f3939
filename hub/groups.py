"""The staff groups: "AT viewers" read everything, "AT operators" may also send.

Data migrations call `grant()` with the permissions they introduce, so that a
fresh database and an upgraded one end up with the same groups.
"""

VIEWERS = "AT viewers"
OPERATORS = "AT operators"


def _ensure_permissions(apps):
    """Permissions are normally created after `migrate`; a data migration needs them now."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def grant(apps, group_name: str, permissions: list[str]) -> None:
    """Give `group_name` (created if needed) permissions named "app.codename"; "app.view_*" means all views."""
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=group_name)
    for name in permissions:
        app_label, codename = name.split(".", 1)
        found = Permission.objects.filter(content_type__app_label=app_label)
        found = found.filter(codename__startswith="view_") if codename == "view_*" else found.filter(codename=codename)
        if not found.exists():
            raise LookupError(f"no permission {name}")
        group.permissions.add(*found)

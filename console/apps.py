"""The operations console: the admin as staff use it (a dashboard, a subscriber timeline, exports, grouped navigation).

It sits above the products: it reads every app's models; no app imports it.
"""

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = _("Operations console")

    def ready(self):
        from . import phones, rollups  # noqa: F401 - rollups registers the figures' periodic refresh with `maintain`

        # The admin (listed first in INSTALLED_APPS) has discovered every app's admin module by now.
        phones.link_phone_numbers()


class HubAdminConfig(AdminConfig):
    """Django's admin, with the console's site (dashboard at /admin/) as the default site."""

    default_site = "console.sites.HubAdminSite"

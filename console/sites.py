"""The admin site staff use: the dashboard at /admin/, the subscriber timeline, exports, grouped navigation."""

from django.contrib import admin
from django.urls import path
from django.utils.translation import gettext_lazy as _


class HubAdminSite(admin.AdminSite):
    site_header = _("Africa's Talking hub")
    site_title = _("atproject")
    index_title = _("Operations")
    index_template = "admin/console/dashboard.html"

    def get_urls(self):
        from alerts import stuck
        from alerts import views as alert_views

        from . import exports, timeline, views

        return [
            path("doctor/", self.admin_view(alert_views.doctor_view), name="doctor"),
            path("stuck-messages/", self.admin_view(stuck.stuck_view), name="stuck-messages"),
            path("dashboard/data/", self.admin_view(views.dashboard_data), name="dashboard-data"),
            path("phone/", self.admin_view(timeline.search_view), name="phone-search"),
            path("phone/<str:number>/", self.admin_view(timeline.phone_view), name="phone"),
            *exports.urls(self),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        from . import views

        return super().index(request, {**views.dashboard_context(request), **(extra_context or {})})

    def get_app_list(self, request, app_label=None):
        from . import navigation

        app_list = super().get_app_list(request, app_label)
        return app_list if app_label is not None else navigation.grouped(app_list, request)

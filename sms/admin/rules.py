"""Auto-reply rules staff edit."""



from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from hub.admin import (
    hover,
)
from sms.models import (
    AutoReplyRule,
)


@admin.register(AutoReplyRule)
class AutoReplyRuleAdmin(admin.ModelAdmin):
    list_display = ("keyword", "short_code", "short_reply", "active", "created_at")
    list_filter = ("active", "short_code")
    list_editable = ("active",)
    search_fields = ("keyword", "reply")

    @admin.display(description=_("reply"))
    def short_reply(self, obj):
        return hover(obj.reply, 60)

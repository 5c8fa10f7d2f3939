"""Voice URLs: AT's callbacks at the reference app's paths, and invoke-call."""

from django.urls import path

from hub.callbacks.mount import callback_path
from hub.invoke import service_ready

from . import models, services, views

app_name = "voice"

urlpatterns = [
    path("", service_ready("voice"), name="ready"),
    callback_path(
        "instruct",
        models.VoiceInstruction,
        name="instruct",
        view=views.InstructView,
        effect=services.answer_instruction,
        answered_effect=services.answered_instruction,
    ),
    callback_path("events", models.VoiceEvent, name="events", effect=services.update_call),
    path("invoke-call", views.InvokeCallView.as_view(), name="invoke-call"),
]

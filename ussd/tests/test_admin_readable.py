"""The readable admin, USSD and the internals: what staff may open, and what USSD pages say.

- Internals (raw USSD hops, voice instruction requests, task results, tokens, users and groups) are for
  superusers, under "System": other staff neither see them nor open them, even with a group's view permission.
- The staff groups are given no permission on users, groups, tokens or task results.
- A USSD session names its network after the operator and shows its cost with the currency.
"""

from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from hub.groups import OPERATORS, VIEWERS
from hub.testing import load_payload, post_callback
from ussd.models import UssdEnd, UssdHop, UssdSession
from voice.models import VoiceInstruction

pytestmark = pytest.mark.django_db

INTERNALS = {
    "ussd.UssdHop": "admin:ussd_ussdhop_changelist",
    "voice.VoiceInstruction": "admin:voice_voiceinstruction_changelist",
    "django_tasks_database.DBTaskResult": "admin:django_tasks_database_dbtaskresult_changelist",
    "authtoken.TokenProxy": "admin:authtoken_tokenproxy_changelist",
    "auth.User": "admin:auth_user_changelist",
    "auth.Group": "admin:auth_group_changelist",
}


@pytest.fixture
def viewer(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=VIEWERS))
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def callbacks(client):
    """A USSD session (its hops and end) and a voice instruction request, through the real endpoints."""
    post_callback(client, "/api/ussd/session", load_payload("ussd", "session"))
    post_callback(client, "/api/ussd/status", load_payload("ussd", "end"))
    post_callback(client, "/api/voice/instruct", load_payload("voice", "instruct"))
    assert UssdHop.objects.exists() and UssdEnd.objects.exists() and VoiceInstruction.objects.exists()


def index_models(client) -> dict[str, set[str]]:
    """The admin index's sections, each with the models it lists ("app_label.ObjectName")."""
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    sections = {}
    for section in response.context["app_list"]:
        sections[str(section["name"])] = {f"{m['model']._meta.app_label}.{m['object_name']}" for m in section["models"]}
    return sections


def test_superusers_see_the_internals_under_system(staff_client):
    sections = index_models(staff_client)
    assert sections["System"] == set(INTERNALS)
    assert not any(set(INTERNALS) & models for name, models in sections.items() if name != "System")


def test_viewers_see_no_internals_although_their_group_may_view_hops_and_instructions(viewer):
    assert viewer.user.has_perm("ussd.view_ussdhop") and viewer.user.has_perm("voice.view_voiceinstruction")
    sections = index_models(viewer)
    assert "System" not in sections
    assert not any(set(INTERNALS) & models for models in sections.values())
    assert "ussd.UssdSession" in sections["Activity"]  # what they are meant to read is there
    app_index = viewer.get(reverse("admin:app_list", args=["ussd"]))
    assert "ussdhop" not in app_index.content.decode().lower()


def test_viewers_cannot_open_internal_pages(viewer, callbacks):
    for url_name in INTERNALS.values():
        assert viewer.get(reverse(url_name)).status_code == 403, url_name
    hop = UssdHop.objects.first()
    instruction = VoiceInstruction.objects.first()
    assert viewer.get(reverse("admin:ussd_ussdhop_change", args=[hop.pk])).status_code == 403
    assert viewer.get(reverse("admin:voice_voiceinstruction_change", args=[instruction.pk])).status_code == 403


def test_superusers_open_internal_pages(staff_client, callbacks):
    for url_name in INTERNALS.values():
        assert staff_client.get(reverse(url_name)).status_code == 200, url_name
    hop = UssdHop.objects.first()
    assert staff_client.get(reverse("admin:ussd_ussdhop_change", args=[hop.pk])).status_code == 200


def test_viewers_still_read_a_sessions_transcript_and_a_calls_timeline(viewer, callbacks):
    session = UssdSession.objects.get()
    detail = viewer.get(reverse("admin:ussd_ussdsession_change", args=[session.pk]))
    assert detail.status_code == 200
    assert "Transcript" in detail.content.decode()
    call = VoiceInstruction.objects.get().call
    assert viewer.get(reverse("admin:voice_call_change", args=[call.pk])).status_code == 200


def test_the_staff_groups_have_no_permission_on_users_groups_tokens_or_tasks():
    for name in (VIEWERS, OPERATORS):
        apps = set(Group.objects.get(name=name).permissions.values_list("content_type__app_label", flat=True))
        assert not apps & {"auth", "authtoken", "django_tasks_database", "admin", "contenttypes", "sessions"}, name


def test_a_session_names_its_network_and_shows_its_cost_with_the_currency(staff_client, callbacks):
    listing = unescape(staff_client.get(reverse("admin:ussd_ussdsession_changelist")).content.decode())
    assert "Safaricom KE (63902)" in listing
    assert "KES 0.0500" in listing
    session = UssdSession.objects.get()
    detail = unescape(staff_client.get(reverse("admin:ussd_ussdsession_change", args=[session.pk])).content.decode())
    assert "Safaricom KE (63902)" in detail and "KES 0.0500" in detail
    ends = unescape(staff_client.get(reverse("admin:ussd_ussdend_changelist")).content.decode())
    assert "KES 0.0500" in ends and "Safaricom KE (63902)" in ends

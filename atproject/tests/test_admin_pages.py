"""Every admin page of every model renders for staff, with a bounded number of queries."""

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse

from atproject.callbacks.registry import kinds
from atproject.testing import post_callback
from atproject.tests.test_ingestion import fixture_for

pytestmark = pytest.mark.django_db

MODELS = sorted(site._registry, key=lambda m: m._meta.label)


@pytest.fixture
def some_of_everything(client, settings):
    """Several callbacks of every kind, and what they create (sessions, calls, state)."""
    settings.AT_VOICE_NUMBER = "+254711082000"
    for i in range(3):
        for kind in kinds().values():
            payload = fixture_for(kind.name)
            for key in ("id", "sessionId", "requestId", "transactionId", "phoneNumber"):
                if key in payload:
                    payload[key] = f"{payload[key]}{i}"
            post_callback(client, kind.path, payload)
    from airtime.services import queue_airtime
    from simswap.services import queue_checks
    from sms.services import queue_sms
    from voice.services import queue_calls

    queue_sms(["+254711000001", "+254711000002"], "Hi")
    queue_calls(["+254711000001", "+254711000002"])
    queue_airtime(["+254711000001", "+254711000002"], "10", "KES")
    queue_checks(["+254711000001", "+254711000002"])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_list_and_detail_pages_render(staff_client, some_of_everything, model, django_assert_max_num_queries):
    opts = model._meta
    with django_assert_max_num_queries(15):
        response = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    obj = model.objects.order_by("pk").first()
    if obj is not None:
        detail = staff_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
        assert detail.status_code == 200

"""Operations commands say what they did, row by row where staff must act."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hub.testing import post_callback
from sms.models import DeliveryReport

pytestmark = pytest.mark.django_db


def test_reprocess_names_every_row_that_still_fails(client):
    post_callback(client, "/api/sms/delivery-reports", {"status": "Success"})  # no id: stays invalid
    post_callback(client, "/api/sms/delivery-reports", {"id": "ATXid_1"})  # no status
    bad = list(DeliveryReport.objects.order_by("pk").values_list("pk", flat=True))
    out = StringIO()
    call_command("reprocess", failed=True, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "0 reprocessed, 2 still failing"
    assert lines[1:] == [
        f"  still failing: sms.delivery-reports #{bad[0]}: missing required field 'id'",
        f"  still failing: sms.delivery-reports #{bad[1]}: missing required field 'status'",
    ]


def test_reprocess_refuses_ids_that_are_not_ids():
    with pytest.raises(CommandError, match="comma-separated row ids"):
        call_command("reprocess", kind="sms.delivery-reports", ids="4,x")


def test_prune_drops_throttle_counters_older_than_a_day():
    import time

    from hub.maintenance import prune
    from hub.models import RateCounter

    now = time.time()
    RateCounter.objects.create(key="invoke:user:1", window=int(now - 2 * 86400), hits=60)
    current = RateCounter.objects.create(key="invoke:user:1", window=int(now // 60 * 60), hits=3)
    assert prune()["rate counters"] == 1
    assert list(RateCounter.objects.all()) == [current]


def test_maintain_refreshes_ats_balance_at_its_own_pace(settings):
    import responses

    from hub.maintenance import run_due_jobs
    from hub.models import BalanceSnapshot

    settings.AT_API_URL = "http://at.stub"
    with responses.RequestsMock() as mock:
        mock.get("http://at.stub/version1/user", json={"UserData": {"balance": "KES 1785.50"}})
        call_command("maintain", stdout=StringIO())
        call_command("maintain", stdout=StringIO())  # ten minutes have not passed: AT is asked once
    snapshot = BalanceSnapshot.objects.get()
    assert (str(snapshot.amount), snapshot.currency, snapshot.error) == ("1785.5000", "KES", "")
    with responses.RequestsMock() as mock:
        mock.get("http://at.stub/version1/user", body="The supplied authentication is invalid", status=401)
        later = snapshot.fetched_at + __import__("datetime").timedelta(minutes=11)
        run_due_jobs(now=later)
    assert "401" in BalanceSnapshot.objects.latest().error

"""Fuzzing every callback and invoke endpoint: no 500s, and every authenticated callback with a body is a row.

Bounded (a few dozen examples per endpoint) so that CI stays fast; run with
`--hypothesis-seed=...` to replay a failure.
"""

import json
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from hub.callbacks.registry import kinds
from hub.testing import token
from hub.tests.test_ingestion import KIND_FIXTURES, fixture_for

FUZZ = hypothesis_settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# Any character at all: NUL, control characters, lone surrogates, emoji.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
huge_text = st.builds(lambda n, c: c * n, st.integers(1000, 300_000), st.sampled_from(["x", "é", "💡"]))
scalars = st.one_of(
    any_text, huge_text, st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none()
)
values = st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(any_text, scalars, max_size=3))


def field_names(kind_name):
    return st.one_of(st.sampled_from(sorted(fixture_for(kind_name))), any_text)


def payloads(kind_name):
    """The kind's real fields (some missing, some changed) plus unknown ones."""
    fixture = fixture_for(kind_name)
    return st.builds(
        lambda keep, changes, extra: {**{k: v for k, v in fixture.items() if k in keep}, **changes, **extra},
        st.sets(st.sampled_from(sorted(fixture))),
        st.dictionaries(st.sampled_from(sorted(fixture)), values, max_size=3),
        st.dictionaries(field_names(kind_name), values, max_size=3),
    )


def form_body(payload: dict) -> bytes:
    """Form-encode anything, lone surrogates included (as the broken UTF-8 they make)."""

    def enc(value):
        return quote(str(value).encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in payload.items()).encode()


def bodies(kind_name):
    return st.one_of(
        payloads(kind_name).map(lambda p: (json.dumps(p, allow_nan=True).encode(), "application/json")),
        payloads(kind_name).map(lambda p: (form_body(p), "application/x-www-form-urlencoded")),
        st.tuples(
            st.binary(max_size=2000),
            st.sampled_from(
                [
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                    "",
                    "multipart/form-data",
                    "application/json; charset=latin-1",
                    "image/png",
                ]
            ),
        ),
    )


def total_deliveries(model) -> int:
    from django.db.models import Sum

    return model.objects.aggregate(n=Sum("times_received"))["n"] or 0


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(KIND_FIXTURES))
@FUZZ
@given(body=st.data())
def test_callbacks_never_fail_and_never_lose_a_body(client, kind_name, body):
    kind = kinds()[kind_name]
    raw, content_type = body.draw(bodies(kind_name))
    before = total_deliveries(kind.model)
    response = client.generic("POST", f"{kind.path}?token={token()}", raw, content_type=content_type)
    assert response.status_code < 500, response.content[:200]
    if response.status_code == 413:
        assert len(raw) > 256 * 1024
        return
    assert response.status_code in (200, 400)
    assert total_deliveries(kind.model) == before + 1  # a new row, or a counted repeat


@pytest.mark.django_db
@pytest.mark.parametrize("kind_name", sorted(KIND_FIXTURES))
@FUZZ
@given(method=st.sampled_from(["get", "put", "patch", "delete", "options", "head"]), with_token=st.booleans())
def test_callbacks_refuse_other_methods(client, kind_name, method, with_token):
    path = kinds()[kind_name].path + (f"?token={token()}" if with_token else "")
    response = getattr(client, method)(path)
    assert response.status_code == 405


@pytest.mark.django_db
@FUZZ
@given(body=st.binary(max_size=500), bad_token=any_text)
def test_unauthenticated_callbacks_store_nothing(client, body, bad_token):
    from sms.models import DeliveryReport

    response = client.post(
        f"/api/sms/delivery-reports?token={quote(bad_token.encode('utf-8', 'surrogatepass'))}x",
        data=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 403
    assert not DeliveryReport.objects.exists()


INVOKE = [
    "/api/sms/invoke-bulk-sms",
    "/api/sms/invoke-twoway-sms",
    "/api/voice/invoke-call",
    "/api/airtime/invoke-send-airtime",
    "/api/sim-swap/invoke-check-simswap",
]


@pytest.fixture
def api(db, settings):
    settings.AT_SHORTCODE, settings.AT_VOICE_NUMBER = "8995", "+254711082000"
    settings.AT_API_THROTTLE_RATE = "100000/min"
    user = get_user_model().objects.create_superuser("fuzzer", "", "pw")
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


invoke_params = st.dictionaries(
    st.one_of(st.sampled_from(["phone", "message", "amount", "currency"]), any_text),
    st.one_of(
        any_text,
        st.sampled_from(["+254711000000", "254711000000,0711", '["+254711000000"]', "10", "-1", "1e999", "KES"]),
    ),
    max_size=5,
)


@pytest.mark.django_db
@pytest.mark.parametrize("path", INVOKE)
@FUZZ
@given(params=invoke_params, as_json=st.booleans(), method=st.sampled_from(["get", "post"]))
def test_invoke_endpoints_never_fail(api, path, params, as_json, method):
    if method == "get":
        clean = {
            k.encode("utf-8", "replace").decode(): v.encode("utf-8", "replace").decode() for k, v in params.items()
        }
        response = api.get(path, clean)
    elif as_json:
        response = api.post(path, json.dumps(params), content_type="application/json")
    else:
        response = api.post(path, form_body(params), content_type="application/x-www-form-urlencoded")
    assert response.status_code in (202, 400), response.content[:200]
    assert "error" in response.json() or response.status_code == 202

"""Fixtures for SMS sending tests: AT's SMS API replaced by `responses`, answering like AT."""

import itertools
from urllib.parse import parse_qs

import pytest
import responses

STUB = "http://at.stub"
SMS_URL = f"{STUB}/version1/messaging"


class StubAT:
    """Answers AT's SMS send API per recipient; numbers in `reject` get the given statusCode."""

    def __init__(self, mock):
        self.mock = mock
        self.reject: dict[str, int] = {}
        self.ids = itertools.count(1)
        self.requests: list[dict] = []

    def answer(self, request):
        form = {k: v[0] for k, v in parse_qs(request.body).items()}
        self.requests.append(form)
        recipients = []
        for number in form["to"].split(","):
            code = self.reject.get(number, 101)
            accepted = code in (100, 101, 102)
            recipients.append(
                {
                    "statusCode": code,
                    "number": number,
                    "status": "Success" if accepted else "InvalidPhoneNumber",
                    "cost": "KES 0.8000" if accepted else "0",
                    "messageId": f"ATXid_{next(self.ids)}" if accepted else "None",
                }
            )
        import json

        body = {"SMSMessageData": {"Message": f"Sent to {len(recipients)}", "Recipients": recipients}}
        return 201, {"Content-Type": "application/json"}, json.dumps(body)

    @property
    def sent_numbers(self) -> list[str]:
        return [n for r in self.requests for n in r["to"].split(",")]


@pytest.fixture
def stub_at(settings):
    settings.AT_API_URL = STUB
    settings.AT_API_KEY = "atsk_test_key"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub = StubAT(mock)
        mock.add_callback(responses.POST, SMS_URL, callback=stub.answer)
        yield stub

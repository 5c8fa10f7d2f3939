"""The AT gateway: the only code that imports the africastalking SDK.

The SDK's public methods build and validate AT's requests (field names, form or
JSON bodies, phone checks). Their transport is replaced here, once, because the
SDK's own (africastalking 2.0.3) loses what a sender needs:

- errors carry no HTTP status (a 409 DoNotDisturb answer holds per-recipient
  statuses in its body), and transport errors do not say whether the request
  may have reached AT: every failure here is one `ATError` that does, and says
  "never reached" only when the connection itself failed (see `_never_sent`);
- `application/json; charset=utf-8` answers came back as str: any JSON answer
  is parsed;
- no connection reuse: one pooled `requests.Session` per thread;
- `Airtime.send` keeps its `Idempotency-Key` header on a shared object and
  rewrites the caller's recipient dicts: every call here gets a fresh service
  object and copies of its arguments.

`AT_API_URL` points every call at another host serving AT's paths (the local
simulator, a stub in tests).
"""

import contextlib
import functools
import json
import logging
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import africastalking
import requests
from django.conf import settings
from django.utils import timezone
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from hub.callbacks.payload import parse_money
from hub.phones import normalize_phone

logger = logging.getLogger("hub.gateway")

#: AT's answer as the transport decoded it: JSON (a dict, usually), or the text of an answer that was not JSON.
#: Only the readers below (`sms_recipients`, `call_answer`, ...) look inside it.
RawAnswer = Any

# AT's per-recipient SMS statusCode values, as AT's SMS documentation lists them.
SMS_STATUS_CODES = {
    100: "Processed",
    101: "Sent",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}
SMS_ACCEPTED_CODES = frozenset({100, 101, 102})


class ATError(Exception):
    """A call to AT that did not succeed.

    `status` is AT's HTTP status (None when no answer came), `body` its answer,
    and `reached` whether the request may have reached AT: when it may have, a
    retry could send twice. `invalid`: the SDK refused the arguments (or the
    request could not be built), nothing was sent, and trying again cannot help.
    """

    def __init__(
        self, message: str, *, status: int | None = None, body: str = "", reached: bool = True, invalid: bool = False
    ):
        super().__init__(message)
        self.status = status
        self.body = body
        self.reached = reached and not invalid
        self.invalid = invalid

    @property
    def retryable(self) -> bool:
        """Safe and useful to try again: the request provably never reached AT (the connection failed)."""
        return not self.invalid and not self.reached

    @property
    def gateway_error(self) -> bool:
        """AT's side answered 502/503/504. Usually nothing was done, but such an answer can also
        follow a request AT accepted: a retry may send twice (AT_RETRY_GATEWAY_ERRORS opts in)."""
        return self.status in (502, 503, 504)

    def json(self) -> RawAnswer:
        """The answer's body as JSON, or None."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class _Transport:
    """Mixed into the SDK's service classes: replaces `Service._make_request`."""

    _timeout: tuple[float, float]

    def _make_request(
        self,
        url: str,
        method: str,
        headers: dict[str, str],
        data: Any,
        params: dict[str, Any] | None,
        callback: object = None,
        timeout: object = None,
    ) -> RawAnswer:
        if callback is not None:
            raise ATError("callbacks are not supported by the gateway", invalid=True)
        try:
            response = _session().request(method, url, headers=headers, data=data, params=params, timeout=self._timeout)
        except _UNBUILDABLE as exc:
            raise ATError(f"the request to AT could not be made: {_describe(exc)}", invalid=True) from None
        except requests.exceptions.RequestException as exc:
            if _never_sent(exc):
                error = ATError(f"AT could not be reached: {_describe(exc)}", reached=False)
            elif isinstance(exc, requests.exceptions.Timeout):
                error = ATError(f"AT did not answer in time: {_describe(exc)}", reached=True)
            else:
                error = ATError(f"AT request failed: {_describe(exc)}", reached=True)
            note_trouble(error)
            raise error from None
        if not 200 <= response.status_code < 300:
            error = ATError(
                f"AT answered HTTP {response.status_code}: {response.text[:300]}",
                status=response.status_code,
                body=response.text,
            )
            if response.status_code >= 500 or response.status_code == 401:
                note_trouble(error)
            raise error
        note_answered()
        try:
            return response.json()
        except ValueError:
            return response.text


TROUBLE_KEY = "atproject:gateway:trouble"
#: How long after its last failure AT counts as "recently unreachable" (unless it answered since).
TROUBLE_WINDOW = timedelta(minutes=15)


def note_trouble(error: ATError) -> None:
    """Remember that AT could not be reached, did not answer, failed (5xx) or refused our credentials (401)."""
    from django.core.cache import cache
    from django.db import DatabaseError

    with contextlib.suppress(DatabaseError):
        cache.set(TROUBLE_KEY, {"at": timezone.now().isoformat(), "error": str(error)[:300]}, timeout=86400)


def note_answered() -> None:
    """AT answered: what went wrong before is over."""
    from django.core.cache import cache
    from django.db import DatabaseError

    with contextlib.suppress(DatabaseError):
        if cache.get(TROUBLE_KEY) is not None:
            cache.delete(TROUBLE_KEY)


def last_unreachable() -> dict | None:
    """{"at", "error"} when calling AT failed in the last 15 minutes and it has not answered since; else None."""
    from django.core.cache import cache

    trouble = cache.get(TROUBLE_KEY)
    if trouble is None:
        return None
    if timezone.now() - datetime.fromisoformat(trouble["at"]) > TROUBLE_WINDOW:
        return None
    return trouble


# Refused by requests before any connection was made (a malformed URL or header).
_UNBUILDABLE = (
    requests.exceptions.URLRequired,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
)


def _never_sent(exc: requests.exceptions.RequestException) -> bool:
    """True only when the failure proves that AT cannot have received the request.

    The request's bytes go out only once a connection is open: DNS resolved,
    TCP connected and, for https, the TLS handshake done (certificates and host
    name verified). A failure raised while that connection was being made — a
    refused connection, a DNS failure, a connect timeout, a TLS handshake that
    failed or timed out — proves it. Everything else (a read timeout, a reset or
    a TLS error on an open connection, a closed kept-alive connection) may come
    after AT got the request, and does not.

    requests raises `SSLError` and even `ReadTimeout` for a failed handshake, so
    the type alone does not tell: the wrapped urllib3 and `ssl` errors do (a
    certificate that failed verification), or where they were raised (inside
    urllib3's `connect`, which opens the connection and does the handshake).
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    for error in _wrapped(exc):
        if isinstance(error, (NewConnectionError, ConnectTimeoutError, ssl.SSLCertVerificationError)):
            return True
        if _raised_while_connecting(error):
            return True
    return False


def _wrapped(exc: BaseException) -> list[BaseException]:
    """`exc` and every error it wraps (urllib3's `reason`, arguments, causes), each once."""
    found: list[BaseException] = []
    todo: list = [exc]
    while todo:
        error = todo.pop()
        if not isinstance(error, BaseException) or any(error is seen for seen in found):
            continue
        found.append(error)
        todo.extend([getattr(error, "reason", None), error.__cause__, error.__context__, *error.args])
    return found


def _raised_while_connecting(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_name == "connect" and frame.f_globals.get("__name__") == "urllib3.connection":
            return True
        traceback = traceback.tb_next
    return False


def _describe(exc: Exception) -> str:
    # requests' messages name the host and path; the API key travels in a header, never here.
    return f"{type(exc).__name__}: {exc}"[:300]


_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=8, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _local.session = session
    return session


@functools.cache
def _with_transport(sdk_class: type) -> type:
    return type(f"Gateway{sdk_class.__name__}", (_Transport, sdk_class), {})


def _service(sdk_class: type, **urls: str) -> Any:
    """A fresh SDK service object with our transport, pointed at AT_API_URL when set."""
    service = _with_transport(sdk_class)(settings.AT_USERNAME, settings.AT_API_KEY)
    service._timeout = (settings.AT_CONNECT_TIMEOUT, settings.AT_READ_TIMEOUT)
    if settings.AT_API_URL:
        for attribute, path in urls.items():
            setattr(service, attribute, f"{settings.AT_API_URL}{path}")
    return service


def _sdk_call(method: Callable[..., RawAnswer], *args: Any, **kwargs: Any) -> RawAnswer:
    """Run an SDK method; its argument errors (ValueError) become ATErrors that never reached AT."""
    try:
        return method(*args, **kwargs)
    except ValueError as exc:
        raise ATError(f"refused before sending: {exc}", invalid=True) from None


# --- AT's answers, translated once ------------------------------------------------
#
# Every answer is read here into frozen dataclasses; the services never see AT's
# dicts. AT writes "no value" as the string "None" (a refused SMS's messageId, a
# voice entry's sessionId, an errorMessage): `at_text` turns it into "" in this
# one place. Numbers are E.164 where they can be (`at_phone`), money a Decimal
# and a currency (`at_money`).


def at_text(value: object) -> str:
    """AT's value as text: missing, null and AT's literal "None" are ""."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    text = str(value).strip()
    return "" if text == "None" else text


def at_phone(value: object) -> str:
    """A number from AT's answer in E.164 when it is one; else as AT wrote it ("" for none)."""
    text = at_text(value)
    return normalize_phone(text) or text


def at_money(value: object) -> tuple[Decimal | None, str]:
    """AT's amount ("KES 0.8000", "10 KES", 0.5) as (Decimal, currency); (None, "") when missing or unreadable."""
    text = at_text(value)
    if not text:
        return None, ""
    try:
        return parse_money(text)
    except ValueError:
        return None, ""


def _entries(data: dict[str, Any], *names: str) -> list[dict[str, Any]]:
    """The list of per-recipient dicts under the first of `names` present; anything else is skipped."""
    for name in names:
        value = data.get(name)
        if isinstance(value, list):
            return [entry for entry in value if isinstance(entry, dict)]
    return []


@dataclass(frozen=True)
class SmsRecipientResult:
    """AT's answer for one recipient of an SMS send."""

    phone: str
    status_code: int | None
    status: str
    message_id: str
    cost: Decimal | None = None
    cost_currency: str = ""

    @property
    def accepted(self) -> bool:
        return self.status_code in SMS_ACCEPTED_CODES

    @property
    def reason(self) -> str:
        """Why AT refused it: the code's name (AT's status text when the code is unknown)."""
        known = SMS_STATUS_CODES.get(self.status_code, "") if self.status_code is not None else ""
        return known or self.status or f"statusCode {self.status_code}"


def sms_recipients(answer: RawAnswer) -> list[SmsRecipientResult]:
    """The per-recipient results in an SMS send answer (also in a 409 error's body)."""
    data = answer if isinstance(answer, dict) else {}
    message_data = data.get("SMSMessageData") or data.get("smsMessageData") or {}
    message_data = message_data if isinstance(message_data, dict) else {}
    results = []
    for entry in _entries(message_data, "Recipients", "recipients"):
        try:
            code: int | None = int(entry.get("statusCode", ""))
        except (TypeError, ValueError):
            code = None
        cost, currency = at_money(entry.get("cost"))
        results.append(
            SmsRecipientResult(
                phone=at_phone(entry.get("number")),
                status_code=code,
                status=at_text(entry.get("status")),
                message_id=at_text(entry.get("messageId")),
                cost=cost,
                cost_currency=currency,
            )
        )
    return results


@dataclass(frozen=True)
class CallEntry:
    """AT's answer for one number of an outbound call request."""

    phone: str
    status: str
    session_id: str

    @property
    def accepted(self) -> bool:
        """AT queued the call and gave it a session (the id its callbacks will carry)."""
        return self.status.lower() == "queued" and bool(self.session_id)


@dataclass(frozen=True)
class CallAnswer:
    """AT's answer to a call request: an entry per number, and the request's error message ("" for none)."""

    entries: tuple[CallEntry, ...]
    error_message: str = ""

    def __iter__(self) -> Iterator[CallEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def call_answer(answer: RawAnswer) -> CallAnswer:
    """`{"entries": [{"phoneNumber", "status", "sessionId"}], "errorMessage"}` as a CallAnswer."""
    data = answer if isinstance(answer, dict) else {}
    entries = tuple(
        CallEntry(
            phone=at_phone(entry.get("phoneNumber")),
            status=at_text(entry.get("status")),
            session_id=at_text(entry.get("sessionId")),
        )
        for entry in _entries(data, "entries", "Entries")
    )
    error = at_text(data.get("errorMessage")) if data else at_text(answer)[:200]
    return CallAnswer(entries=entries, error_message=error)


@dataclass(frozen=True)
class AirtimeResult:
    """AT's answer for one recipient of an airtime send."""

    phone: str
    status: str
    request_id: str
    amount: Decimal | None = None
    currency: str = ""
    discount: Decimal | None = None
    discount_currency: str = ""
    error_message: str = ""

    @property
    def accepted(self) -> bool:
        """AT took it ("Sent", with a requestId its status callback will carry); not yet delivered."""
        return self.status.lower() == "sent" and bool(self.request_id)


@dataclass(frozen=True)
class AirtimeAnswer:
    """AT's answer to an airtime send: a result per recipient, and the request's error message ("" for none)."""

    entries: tuple[AirtimeResult, ...]
    error_message: str = ""

    def __iter__(self) -> Iterator[AirtimeResult]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def airtime_answer(answer: RawAnswer) -> AirtimeAnswer:
    """`{"errorMessage", "responses": [{"phoneNumber", "status", "requestId", "amount", "discount",
    "errorMessage"}]}` as an AirtimeAnswer (a text answer becomes its error message)."""
    data = answer if isinstance(answer, dict) else {}
    entries = []
    for entry in _entries(data, "responses", "Responses"):
        amount, currency = at_money(entry.get("amount"))
        discount, discount_currency = at_money(entry.get("discount"))
        entries.append(
            AirtimeResult(
                phone=at_phone(entry.get("phoneNumber")),
                status=at_text(entry.get("status")),
                request_id=at_text(entry.get("requestId")),
                amount=amount,
                currency=currency,
                discount=discount,
                discount_currency=discount_currency,
                error_message=at_text(entry.get("errorMessage")),
            )
        )
    error = at_text(data.get("errorMessage")) if data else at_text(answer)[:200]
    return AirtimeAnswer(entries=tuple(entries), error_message=error)


#: SIM swap entry statuses that mean AT took the check (its result comes by callback).
SIM_SWAP_ACCEPTED = frozenset({"queued", "processed", "sent", "success"})


@dataclass(frozen=True)
class SimSwapResult:
    """AT's answer for one number of a SIM swap check, with the answer's transaction id."""

    phone: str
    status: str
    request_id: str
    transaction_id: str = ""
    carrier_name: str = ""
    country_code: str = ""
    network_code: str = ""
    number_type: str = ""
    cost_text: str = ""
    cost: Decimal | None = None
    cost_currency: str = ""

    @property
    def accepted(self) -> bool:
        return self.status.lower() in SIM_SWAP_ACCEPTED and bool(self.request_id)


@dataclass(frozen=True)
class SimSwapAnswer:
    """AT's answer to a SIM swap check request: a result per number."""

    entries: tuple[SimSwapResult, ...]
    transaction_id: str = ""
    status: str = ""

    def __iter__(self) -> Iterator[SimSwapResult]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def sim_swap_answer(answer: RawAnswer) -> SimSwapAnswer:
    """`{"transactionId", "status", "responses": [{"phoneNumber": {"number", "carrierName", "countryCode",
    "networkCode", "numberType"}, "status", "requestId", "cost"}]}` as a SimSwapAnswer (a bare
    `phoneNumber` string is read as the number)."""
    data = answer if isinstance(answer, dict) else {}
    transaction_id = at_text(data.get("transactionId"))
    entries = []
    for entry in _entries(data, "responses", "Responses"):
        number = entry.get("phoneNumber")
        info = number if isinstance(number, dict) else {"number": number}
        cost, currency = at_money(entry.get("cost"))
        entries.append(
            SimSwapResult(
                phone=at_phone(info.get("number")),
                status=at_text(entry.get("status")),
                request_id=at_text(entry.get("requestId")),
                transaction_id=transaction_id,
                carrier_name=at_text(info.get("carrierName")),
                country_code=at_text(info.get("countryCode")),
                network_code=at_text(info.get("networkCode")),
                number_type=at_text(info.get("numberType")),
                cost_text=at_text(entry.get("cost")),
                cost=cost,
                cost_currency=currency,
            )
        )
    return SimSwapAnswer(entries=tuple(entries), transaction_id=transaction_id, status=at_text(data.get("status")))


# --- The calls ------------------------------------------------------------------


def send_sms(
    message: str, recipients: list[str], *, sender_id: str = "", enqueue: bool = False
) -> list[SmsRecipientResult]:
    """Bulk SMS (`SMS.send`); returns per-recipient results. A 409 DND answer is results too."""
    service = _service(africastalking.SMSService, _baseUrl="/version1", _contentUrl="/version1")
    try:
        answer = _sdk_call(service.send, message, list(recipients), sender_id=sender_id or None, enqueue=enqueue)
    except ATError as exc:
        if exc.status == 409 and sms_recipients(exc.json()):
            return sms_recipients(exc.json())
        raise
    return sms_recipients(answer)


def send_premium_sms(
    message: str, short_code: str, recipients: list[str], *, keyword: str = "", link_id: str = ""
) -> list[SmsRecipientResult]:
    """Premium / on-demand SMS from a shortcode (`SMS.send_premium`), with the inbound linkId."""
    service = _service(africastalking.SMSService, _baseUrl="/version1", _contentUrl="/version1")
    try:
        answer = _sdk_call(
            service.send_premium,
            message,
            short_code,
            list(recipients),
            keyword=keyword or None,
            link_id=link_id or None,
        )
    except ATError as exc:
        if exc.status == 409 and sms_recipients(exc.json()):
            return sms_recipients(exc.json())
        raise
    return sms_recipients(answer)


def fetch_messages(last_received_id: int = 0) -> RawAnswer:
    """Inbound messages from AT's inbox (`SMS.fetch_messages`)."""
    service = _service(africastalking.SMSService, _baseUrl="/version1", _contentUrl="/version1")
    return _sdk_call(service.fetch_messages, last_received_id)


def call(from_number: str, to_numbers: list[str]) -> CallAnswer:
    """Start outbound calls (`Voice.call`); AT's answer per number."""
    service = _service(africastalking.VoiceService, _baseUrl="")
    return call_answer(_sdk_call(service.call, from_number, list(to_numbers)))


def send_airtime(phone_number: str, amount: Decimal, currency_code: str, *, idempotency_key: str) -> AirtimeAnswer:
    """Airtime to one number (`Airtime.send`), with the transaction's own idempotency key; AT's answer."""
    service = _service(africastalking.AirtimeService, _baseUrl="/version1/airtime")
    recipient = {"phoneNumber": phone_number, "amount": str(amount), "currency_code": currency_code}
    return airtime_answer(_sdk_call(service.send, recipients=[recipient], idempotency_key=idempotency_key))


def check_sim_swap(phone_numbers: list[str]) -> SimSwapAnswer:
    """SIM swap checks (`Insights.check_sim_swap_state`); AT's answer per number."""
    service = _service(africastalking.InsightService, _baseUrl="/v1")
    return sim_swap_answer(_sdk_call(service.check_sim_swap_state, list(phone_numbers)))


def application_data() -> RawAnswer:
    """The account's balance (`Application.fetch_application_data`)."""
    service = _service(africastalking.ApplicationService, _baseUrl="/version1")
    return _sdk_call(service.fetch_application_data)

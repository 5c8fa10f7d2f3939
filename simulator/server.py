"""A local Africa's Talking: AT's REST paths, answered as AT answers, and AT's callbacks sent back.

Run by `python manage.py atsim`. It serves the paths the gateway calls through
AT_API_URL (bulk and premium SMS, voice calls, airtime, SIM swap, application
data), answers with AT's shapes and exactly `Content-Type: application/json`,
and then plays AT's part: delivery reports, voice instruction requests (reading
the XML the project answers: Say, Play, GetDigits, Record, Dial, hang-up) and
events, airtime validation during the send and then the status, SIM swap
results, USSD end-of-session notifications. A small page at `/` plays the
phone: dial a USSD code, send an SMS, opt out, subscribe, call in. Its
endpoints take JSON from the page itself only (its own loopback address and
port, no other site's Origin), so another web page cannot make it call back.

It is a development and test tool: it listens on loopback and keeps its state
in memory. Numbers ending in 13 (say +254711000013) are rejected as invalid;
ending in 99, they fail delivery (`UserInBlackList`); `--failure-rate` fails a
random share of deliveries too (1: every one).

Rehearsing incidents offline: `drop_delivery_reports` accepts sends and never
calls back with their delivery reports (a wrong callback URL in AT's
dashboard, seen from our side); `refuse_api_key` answers every API call with
AT's 401 ("The supplied authentication is invalid", plain text), whatever key
is sent. Both, and `failure_rate`, are set at start (`atsim` flags) and can be
switched while it runs through `GET`/`POST /control` (JSON, from loopback
only, as the phone page's endpoints): `{"drop_delivery_reports": false}` puts
it back to normal. The reports it dropped are kept (the latest 10,000);
`{"release_held": true}` sends them then, as reports arriving late.
"""

import json
import logging
import random
import re
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

logger = logging.getLogger("simulator")

PHONE = re.compile(r"^\+\d{1,3}\d{3,}$")
PAGE = Path(__file__).with_name("phone.html")
# The names the simulator answers its phone page on (with its port): no other site's, none rebound to loopback.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


@dataclass
class Options:
    project_url: str = "http://127.0.0.1:8000"
    token: str = ""
    api_key: str = ""
    username: str = "sandbox"
    delay: float = 1.0  # seconds before each callback
    latency: float = 0.0  # seconds before answering an API call
    failure_rate: float = 0.0  # share of deliveries that fail
    digits: str = "1"  # keys a simulated callee presses at each GetDigits, in order; "?" is a random key
    balance: Decimal = Decimal("1000")
    drop_delivery_reports: bool = False  # accept sends, never send their delivery reports
    refuse_api_key: bool = False  # answer every API call with AT's 401, whatever the key


#: What `/control` switches while the simulator runs, and how each value is read.
SWITCHES = {
    "drop_delivery_reports": bool,
    "refuse_api_key": bool,
    "failure_rate": float,
}
HELD_MAX = 10_000  # dropped delivery reports kept for `release_held`


@dataclass
class State:
    balance: Decimal
    lock: threading.Lock = field(default_factory=threading.Lock)
    airtime_answers: dict = field(default_factory=dict)  # idempotency key -> answer
    ussd_sessions: dict = field(default_factory=dict)  # session id -> {"phone", "code", "inputs", "hops"}
    log: list = field(default_factory=list)  # what the phone page shows
    held: list = field(default_factory=list)  # dropped delivery reports: (message id, phone, premium)

    def charge(self, amount: Decimal) -> None:
        with self.lock:
            self.balance -= amount

    def note(self, text: str) -> None:
        with self.lock:
            self.log.append(f"{time.strftime('%H:%M:%S')} {text}")
            del self.log[:-200]


def ids(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex}"


class Simulator:
    def __init__(self, options: Options):
        self.options = options
        self.state = State(balance=options.balance)
        self.http = requests.Session()

    # --- Calling the project back ------------------------------------------------------------

    def callback(self, path: str, data: dict, *, as_json: bool = False) -> requests.Response | None:
        url = f"{self.options.project_url.rstrip('/')}{path}"
        if self.options.token:
            url += "?" + urlencode({"token": self.options.token})
        try:
            if as_json:
                response = self.http.post(url, json=data, timeout=15)
            else:
                response = self.http.post(url, data=data, timeout=15)
        except requests.RequestException as exc:
            logger.warning("callback %s failed: %s", path, type(exc).__name__)
            self.state.note(f"callback {path} failed: {type(exc).__name__}")
            return None
        self.state.note(f"callback {path} → {response.status_code}")
        return response

    def later(self, function, *args, delay: float | None = None, **kwargs) -> None:
        timer = threading.Timer(self.options.delay if delay is None else delay, function, args, kwargs)
        timer.daemon = True
        timer.start()

    def fails(self, phone: str) -> bool:
        return phone.endswith("99") or random.random() < self.options.failure_rate  # noqa: S311

    # --- SMS --------------------------------------------------------------------------------------

    def send_sms(self, form: dict) -> tuple[int, dict]:
        recipients = []
        for number in form.get("to", "").split(","):
            number = number.strip()
            if not PHONE.match(number) or number.endswith("13"):
                recipients.append(
                    {
                        "statusCode": 403,
                        "number": number,
                        "status": "InvalidPhoneNumber",
                        "cost": "0",
                        "messageId": "None",
                    }
                )
                continue
            message_id = ids("ATXid_")
            recipients.append(
                {
                    "statusCode": 101,
                    "number": number,
                    "status": "Success",
                    "cost": "KES 0.8000",
                    "messageId": message_id,
                }
            )
            self.state.charge(Decimal("0.8"))
            self.later(self.deliver, message_id, number, form.get("bulkSMSMode") == "0")
        sent = sum(1 for r in recipients if r["statusCode"] == 101)
        message = f"Sent to {sent}/{len(recipients)} Total Cost: KES {Decimal('0.8') * sent:.4f}"
        return 201, {"SMSMessageData": {"Message": message, "Recipients": recipients}}

    def deliver(self, message_id: str, phone: str, premium: bool) -> None:
        if self.options.drop_delivery_reports:
            with self.state.lock:
                self.state.held.append((message_id, phone, premium))
                del self.state.held[:-HELD_MAX]
            self.state.note(f"delivery reports of {message_id} dropped")
            return
        report = {"id": message_id, "phoneNumber": phone, "networkCode": "63902"}
        if premium:
            report["retryCount"] = "0"
        self.callback("/api/sms/delivery-reports", {**report, "status": "Sent"})
        final = {"status": "Failed", "failureReason": "UserInBlackList"} if self.fails(phone) else {"status": "Success"}
        self.later(self.callback, "/api/sms/delivery-reports", {**report, **final})

    # --- Rehearsal switches ---------------------------------------------------------------------

    def switches(self) -> dict:
        return {name: getattr(self.options, name) for name in SWITCHES} | {"held_reports": len(self.state.held)}

    def control(self, data: dict) -> tuple[int, dict]:
        """Switch the rehearsal options named in `data`; `release_held` sends the dropped reports."""
        known = [*SWITCHES, "release_held"]
        unknown = sorted(set(data) - set(known))
        if unknown:
            return 400, {"error": f"unknown switch: {', '.join(unknown)} (known: {', '.join(known)})"}
        changes = {}
        for name, kind in SWITCHES.items():
            if name not in data:
                continue
            value = data[name]
            if kind is bool and not isinstance(value, bool):
                return 400, {"error": f"{name} must be true or false"}
            if kind is float:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                    return 400, {"error": f"{name} must be a number from 0 to 1"}
                value = float(value)
            changes[name] = value
        for name, value in changes.items():
            setattr(self.options, name, value)
            self.state.note(f"{name} set to {value}")
        if data.get("release_held"):
            with self.state.lock:
                held, self.state.held = self.state.held, []
            for message_id, phone, premium in held:
                self.later(self.deliver, message_id, phone, premium)
            self.state.note(f"{len(held)} held delivery reports released")
        return 200, self.switches()

    # --- Voice ------------------------------------------------------------------------------------

    def call(self, form: dict) -> tuple[int, dict]:
        entries = []
        for number in form.get("to", "").split(","):
            number = number.strip()
            if not PHONE.match(number) or number.endswith("13"):
                entries.append({"phoneNumber": number, "status": "InvalidPhoneNumber", "sessionId": "None"})
                continue
            session_id = ids("ATVId_")
            entries.append({"phoneNumber": number, "status": "Queued", "sessionId": session_id})
            # AT's callerNumber is the subscriber (here the callee) and destinationNumber our number, both ways.
            self.later(self.run_call, session_id, "Outbound", number, form.get("from", ""), self.options.digits)
        return 201, {"entries": entries, "errorMessage": "None"}

    def run_call(self, session_id, direction, subscriber, our_number, digits: str) -> list[str]:
        """Play a call through the project's voice XML; returns what the subscriber heard and did.

        As AT does on every request, inbound and outbound alike: callerNumber is
        the subscriber (the phone user in the call), destinationNumber our AT number.
        """
        base = {
            "sessionId": session_id,
            "direction": direction,
            "callerNumber": subscriber,
            "destinationNumber": our_number,
        }
        heard, keys, extra, started = [], list(digits), {}, time.monotonic()
        for _hop in range(20):
            response = self.callback("/api/voice/instruct", {**base, "isActive": "1", **extra})
            extra = {}
            if response is None or response.status_code != 200 or not response.text.strip():
                break
            try:
                # The project's own answer, on loopback: not untrusted input.
                actions = list(ET.fromstring(response.text.split("?>", 1)[-1]))  # noqa: S314
            except ET.ParseError:
                heard.append("(unreadable XML)")
                break
            follow_up = None
            for action in actions:
                follow_up = self.perform(action, heard, keys) or follow_up
                if follow_up:
                    break
            if follow_up is None:
                break
            extra = follow_up
        duration = max(1, round(time.monotonic() - started))
        cost = Decimal("0.6") * duration / 60
        self.state.charge(cost)
        final = {
            **base,
            "isActive": "0",
            "callSessionState": "Completed",
            "status": "Success",
            "hangupCause": "NORMAL_CLEARING",
            "durationInSeconds": str(duration),
            "currencyCode": "KES",
            "amount": f"{cost:.4f}",
        }
        self.callback("/api/voice/instruct", final)
        self.callback("/api/voice/events", final)
        self.state.note(f"call {session_id}: " + " | ".join(heard))
        return heard

    def perform(self, action, heard: list, keys: list) -> dict | None:
        """One XML action; returns the fields of the next instruction request when it asks for one."""
        tag = action.tag
        prompt = " ".join((child.text or child.get("url", "")) for child in action)
        if tag == "Say":
            heard.append(f"said: {action.text or ''}")
        elif tag == "Play":
            heard.append(f"played: {action.get('url')}")
        elif tag == "GetDigits":
            heard.append(f"prompt: {prompt}")
            if keys:
                pressed = keys.pop(0)
                if pressed == "?":  # a random key
                    pressed = random.choice("0123456789")  # noqa: S311
                heard.append(f"pressed {pressed}")
                return {"dtmfDigits": pressed}
            heard.append("pressed nothing")
        elif tag == "Record":
            heard.append(f"recording after: {prompt}")
            return {"recordingUrl": f"https://sim.local/recordings/{uuid.uuid4().hex}.mp3"}
        elif tag == "Dial":
            heard.append(f"dialled {action.get('phoneNumbers')}")
            if action.get("record") == "true":
                return {
                    "recordingUrl": f"https://sim.local/recordings/{uuid.uuid4().hex}.mp3",
                    "dialDestinationNumber": action.get("phoneNumbers", "").split(",")[0],
                }
        elif tag in ("Reject", "Redirect", "Enqueue", "Dequeue", "Conference"):
            heard.append(tag.lower())
        return None

    # --- Airtime ----------------------------------------------------------------------------------

    def send_airtime(self, form: dict, idempotency_key: str, source_ip: str) -> tuple[int, dict]:
        if idempotency_key and idempotency_key in self.state.airtime_answers:
            return 201, self.state.airtime_answers[idempotency_key]  # AT sends nothing twice
        try:
            recipients = json.loads(form.get("recipients", "[]"))
        except ValueError:
            return 400, {"errorMessage": "Invalid recipients"}
        responses, total = [], Decimal(0)
        for recipient in recipients:
            phone = str(recipient.get("phoneNumber", ""))
            currency, _, amount = str(recipient.get("amount", "")).partition(" ")
            transaction_id = str(uuid.uuid4())
            check = self.callback(
                "/api/airtime/validation",
                {
                    "transactionId": transaction_id,
                    "phoneNumber": phone,
                    "sourceIpAddress": source_ip,
                    "currencyCode": currency,
                    "amount": amount,
                },
                as_json=True,
            )
            validated = check is not None and check.status_code == 200 and check.json().get("status") == "Validated"
            request_id = ids("ATQid_")
            responses.append(
                {
                    "phoneNumber": phone,
                    "errorMessage": "None",
                    "amount": f"{currency} {amount}",
                    "status": "Sent",
                    "requestId": request_id,
                    "discount": f"{currency} 0.4000",
                }
            )
            if validated:
                total += Decimal(amount)
            self.later(self.airtime_status, request_id, phone, f"{currency} {amount}", validated)
        self.state.charge(total)
        answer = {
            "errorMessage": "None",
            "numSent": len(responses),
            "totalAmount": f"KES {total:.4f}",
            "totalDiscount": "KES 0.0000",
            "responses": responses,
        }
        if idempotency_key:
            self.state.airtime_answers[idempotency_key] = answer
        return 201, answer

    def airtime_status(self, request_id, phone, value, validated: bool) -> None:
        ok = validated and not self.fails(phone)
        self.callback(
            "/api/airtime/status",
            {
                "phoneNumber": phone,
                "requestId": request_id,
                "value": value,
                "discount": "KES 0.4000",
                "status": "Success" if ok else "Failed",
                "description": "Airtime Delivered Successfully"
                if ok
                else ("Validation failed" if not validated else "Failed to deliver airtime"),
            },
            as_json=True,
        )

    # --- SIM swap -----------------------------------------------------------------------------------

    def sim_swap(self, body: dict) -> tuple[int, dict]:
        responses = []
        for number in body.get("phoneNumbers", []):
            request_id = ids("ATSwpid_")
            responses.append(
                {
                    "phoneNumber": {
                        "carrierName": "Safaricom",
                        "countryCode": "254",
                        "networkCode": "63902",
                        "number": number,
                        "numberType": "Mobile",
                    },
                    "status": "Queued",
                    "requestId": request_id,
                    "cost": "KES 0.5000",
                }
            )
            swapped = number[-1:].isdigit() and int(number[-1]) % 2 == 1
            self.later(
                self.callback,
                "/api/sim-swap/status",
                {
                    "status": "Swapped" if swapped else "NotSwapped",
                    "lastSimSwapDate": "15-03-2026" if swapped else "01-01-1900",
                    "providerRefId": uuid.uuid4().hex,
                    "requestId": request_id,
                    "transactionId": str(uuid.uuid4()),
                },
                as_json=True,
            )
        self.state.charge(Decimal("0.5") * len(responses))
        return 201, {
            "transactionId": str(uuid.uuid4()),
            "status": "Processed",
            "totalCost": {"amount": 0.5 * len(responses), "currencyCode": "KES"},
            "responses": responses,
        }

    # --- The phone ------------------------------------------------------------------------------------

    def ussd(self, session_id: str, phone: str, code: str, reply: str | None) -> dict:
        session = self.state.ussd_sessions.setdefault(
            session_id, {"phone": phone, "code": code, "inputs": [], "hops": 0, "started": time.monotonic()}
        )
        if reply is not None:
            session["inputs"].append(reply)
        session["hops"] += 1
        response = self.callback(
            "/api/ussd/session",
            {
                "sessionId": session_id,
                "serviceCode": code,
                "phoneNumber": phone,
                "networkCode": "63902",
                "text": "*".join(session["inputs"]),
            },
        )
        screen = response.text if response is not None and response.status_code == 200 else "END (no answer)"
        if not screen.startswith("CON "):
            duration = round((time.monotonic() - session["started"]) * 1000)
            self.later(
                self.callback,
                "/api/ussd/status",
                {
                    "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                    "sessionId": session_id,
                    "serviceCode": code,
                    "networkCode": "63902",
                    "phoneNumber": phone,
                    "status": "Success" if screen.startswith("END ") else "Failed",
                    "cost": "KES 0.0500",
                    "durationInMillis": str(duration),
                    "hopsCount": str(session["hops"]),
                    "input": "*".join(session["inputs"]),
                    "lastAppResponse": screen,
                    "errorMessage": "",
                },
            )
        return {"screen": screen, "ended": not screen.startswith("CON ")}

    def inbound_sms(self, phone, to, text, link_id="") -> int:
        response = self.callback(
            "/api/sms/twoway",
            {
                "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                "from": phone,
                "id": str(uuid.uuid4()),
                "linkId": link_id,
                "text": text,
                "to": to,
                "networkCode": "63902",
                "cost": "KES 0.0000",
            },
        )
        return response.status_code if response is not None else 0


class Handler(BaseHTTPRequestHandler):
    simulator: Simulator

    def log_message(self, fmt, *args):  # the request line may hold a token: log the path only
        logger.debug("%s %s", self.command, urlsplit(self.path).path)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _json(self, status: int, data) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _text(self, status: int, text: str, content_type="text/plain; charset=utf-8") -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _own(self) -> tuple[set[str], set[str]]:
        """The simulator's own Host header values and web origins."""
        port = self.server.server_address[1]
        hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
        if port == 80:
            hosts |= set(LOOPBACK_NAMES)
        return hosts, {f"http://{host}" for host in hosts}

    def _refusal(self, *, phone: bool, post: bool) -> str | None:
        """Why this request may be another web site's doing (None: it is not).

        A page the developer visits must not make the simulator post callbacks
        (they carry the project's token). Browsers send Origin with a cross-site
        POST; a form cannot send application/json without a CORS preflight,
        which is never approved here; and a Host other than the simulator's own
        loopback name and port is a DNS-rebinding attempt.
        """
        hosts, origins = self._own()
        if any(origin.strip().lower() not in origins for origin in self.headers.get_all("Origin") or []):
            return "cross-site request refused: Origin is not this simulator's"
        if phone:
            given = self.headers.get_all("Host") or []
            if len(given) != 1 or given[0].strip().lower() not in hosts:
                return "request refused: Host is not this simulator's loopback address and port"
            if post and self.headers.get_content_type() != "application/json":
                return "request refused: the phone endpoints take Content-Type: application/json"
        return None

    def _authorised(self) -> bool:
        options = self.simulator.options
        if options.refuse_api_key or self.headers.get("apiKey", "") != options.api_key:
            self._text(401, "The supplied authentication is invalid")
            return False
        return True

    def do_GET(self):
        url = urlsplit(self.path)
        sim = self.simulator
        if url.path in ("/", "/control") or url.path.startswith("/phone/"):
            refusal = self._refusal(phone=True, post=False)
            if refusal:
                return self._json(403, {"error": refusal})
        if url.path == "/":
            return self._text(200, PAGE.read_text("utf-8"), "text/html; charset=utf-8")
        if url.path == "/control":
            return self._json(200, sim.switches())
        if url.path == "/phone/log":
            return self._json(200, {"log": sim.state.log[-50:], "balance": f"{sim.state.balance:.2f}"})
        if url.path == "/version1/user":
            if self._authorised():
                return self._json(200, {"UserData": {"balance": f"KES {sim.state.balance:.2f}"}})
            return None
        return self._text(404, "Not found")

    def do_POST(self):
        url = urlsplit(self.path)
        sim = self.simulator
        time.sleep(sim.options.latency)
        raw = self._body()
        own = url.path == "/control" or url.path.startswith("/phone/")
        refusal = self._refusal(phone=own, post=True)
        if refusal:
            return self._json(403, {"error": refusal})
        if own:
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return self._json(400, {"error": "the body must be a JSON object"})
            if url.path == "/control":
                return self._json(*sim.control(data))
            return self.phone(url.path, data)
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if not self._authorised():
            return None
        if url.path == "/version1/messaging":
            return self._json(*sim.send_sms(form))
        if url.path == "/call":
            return self._json(*sim.call(form))
        if url.path == "/version1/airtime/send":
            return self._json(*sim.send_airtime(form, self.headers.get("Idempotency-Key", ""), self.client_address[0]))
        if url.path == "/v1/sim-swap":
            return self._json(*sim.sim_swap(json.loads(raw or b"{}")))
        return self._text(404, "Not found")

    def phone(self, path: str, data: dict):
        sim = self.simulator
        phone = str(data.get("phone") or "+254711000000")
        if path == "/phone/ussd":
            return self._json(
                200,
                sim.ussd(
                    str(data.get("session") or ids("ATUid_")),
                    phone,
                    str(data.get("code") or "*384*123#"),
                    data.get("reply"),
                ),
            )
        if path == "/phone/sms":
            return self._json(
                200,
                {
                    "status": sim.inbound_sms(
                        phone, str(data.get("to") or "8995"), str(data.get("text") or ""), str(data.get("linkId") or "")
                    )
                },
            )
        if path == "/phone/opt-out":
            response = sim.callback(
                "/api/sms/opt-out", {"phoneNumber": phone, "senderId": str(data.get("senderId") or "AFRICASTKNG")}
            )
            return self._json(200, {"status": response.status_code if response is not None else 0})
        if path == "/phone/subscribe":
            response = sim.callback(
                "/api/sms/subscription",
                {
                    "phoneNumber": phone,
                    "shortCode": str(data.get("shortCode") or "8995"),
                    "keyword": str(data.get("keyword") or "NEWS"),
                    "updateType": str(data.get("updateType") or "addition"),
                },
            )
            return self._json(200, {"status": response.status_code if response is not None else 0})
        if path == "/phone/call":
            heard = sim.run_call(
                ids("ATVId_"), "Inbound", phone, str(data.get("to") or "+254711082000"), str(data.get("digits") or "")
            )
            return self._json(200, {"heard": heard})
        return self._text(404, "Not found")


def serve(options: Options, host: str = "127.0.0.1", port: int = 8002) -> ThreadingHTTPServer:
    """Start the simulator in a background thread; returns the server (call `.shutdown()` to stop)."""
    handler = type("SimHandler", (Handler,), {"simulator": Simulator(options)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

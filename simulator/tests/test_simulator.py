"""The local AT simulator, over real HTTP: the numbers its calls carry, and a phone page no other site can drive.

The simulator runs in this process (`serve`, on a free loopback port); it calls
back a small recorder standing in for the project, or nothing at all.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from simulator.server import Options, serve

API_KEY = "simulator-test-key"
NOWHERE = "http://127.0.0.1:9"  # discard: nothing listens, a callback fails at once


@pytest.fixture
def simulator():
    """`start(**options)` runs a simulator on a free loopback port: (its base URL, its port, its Simulator)."""
    servers = []

    def start(**options):
        server = serve(Options(**{"project_url": NOWHERE, "api_key": API_KEY, "delay": 0, **options}), port=0)
        servers.append(server)
        port = server.server_address[1]
        return f"http://127.0.0.1:{port}", port, server.RequestHandlerClass.simulator

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def project():
    """A stand-in for the project: records every callback (path and form) and answers 200 with no XML."""
    received = []

    class Recorder(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            received.append((urlsplit(self.path).path, {k: v[-1] for k, v in parse_qs(body).items()}))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def wait_for(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


# --- Voice numbers ---------------------------------------------------------------------------------


def test_an_outbound_call_posts_the_subscriber_as_caller_number(simulator, project):
    project_url, received = project
    base, _port, _sim = simulator(project_url=project_url, digits="")
    answer = requests.post(
        f"{base}/call",
        data={"username": "sandbox", "from": "+254711082000", "to": "+254711000001"},
        headers={"apiKey": API_KEY},
        timeout=10,
    )
    session_id = answer.json()["entries"][0]["sessionId"]
    wait_for(lambda: len(received) >= 3)  # the instruction request, then the final instruct and event
    assert [path for path, _ in received] == ["/api/voice/instruct", "/api/voice/instruct", "/api/voice/events"]
    for _path, form in received:
        assert (form["sessionId"], form["direction"], form["callerNumber"], form["destinationNumber"]) == (
            session_id,
            "Outbound",
            "+254711000001",
            "+254711082000",
        )


def test_a_call_in_from_the_phone_page_posts_the_same_way(simulator, project):
    project_url, received = project
    base, _port, _sim = simulator(project_url=project_url)
    body = {"phone": "+254711000002", "to": "+254711082000", "digits": ""}
    assert requests.post(f"{base}/phone/call", json=body, timeout=10).status_code == 200
    assert {(f["direction"], f["callerNumber"], f["destinationNumber"]) for _, f in received} == {
        ("Inbound", "+254711000002", "+254711082000")
    }


# --- The phone page answers its own page only --------------------------------------------------------

SMS = {"phone": "+254711000001", "to": "8995", "text": "BAL"}


@pytest.mark.parametrize("path", ["/phone/ussd", "/phone/sms", "/phone/opt-out", "/phone/subscribe", "/phone/call"])
def test_a_cross_site_form_post_is_refused(simulator, path):
    base, _port, sim = simulator()
    response = requests.post(
        f"{base}{path}",
        data={"phone": "+254711000001", "text": "BAL"},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert response.status_code == 403
    assert "error" in response.json()
    assert sim.state.log == []  # nothing was called back


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "text/plain;charset=UTF-8"},  # what fetch or a form sends for a JSON text by default
        {"Content-Type": "multipart/form-data; boundary=x"},
    ],
)
def test_a_post_that_is_not_json_is_refused_even_without_an_origin(simulator, headers):
    base, _port, sim = simulator()
    response = requests.post(f"{base}/phone/sms", data=json.dumps(SMS), headers=headers, timeout=10)
    assert response.status_code == 403
    assert "application/json" in response.json()["error"]
    assert sim.state.log == []


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://127.0.0.1:1", "http://127.0.0.1.evil.example"]
)
def test_a_json_post_from_another_origin_is_refused(simulator, origin):
    base, _port, sim = simulator()
    response = requests.post(f"{base}/phone/sms", json=SMS, headers={"Origin": origin}, timeout=10)
    assert response.status_code == 403
    assert "Origin" in response.json()["error"]
    assert sim.state.log == []


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "evil.example", "127.0.0.1:1", "localhost.evil.example:{port}"]
)
def test_a_foreign_host_is_refused_as_dns_rebinding(simulator, host):
    base, port, sim = simulator()
    headers = {"Host": host.format(port=port)}
    response = requests.post(f"{base}/phone/sms", json=SMS, headers=headers, timeout=10)
    assert response.status_code == 403
    assert "Host" in response.json()["error"]
    assert requests.get(f"{base}/phone/log", headers=headers, timeout=10).status_code == 403
    assert sim.state.log == []


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_page_itself_may_post_json(simulator, name):
    base, port, sim = simulator()
    own = f"http://{name}:{port}"
    response = requests.post(
        f"{base}/phone/sms", json=SMS, headers={"Origin": own, "Host": f"{name}:{port}"}, timeout=10
    )
    assert (response.status_code, response.json()) == (200, {"status": 0})  # nothing listens at the project URL
    assert any("callback /api/sms/twoway" in line for line in sim.state.log)
    log = requests.get(f"{base}/phone/log", headers={"Host": f"{name}:{port}"}, timeout=10)
    assert log.status_code == 200


def test_a_json_post_without_an_origin_still_works(simulator):
    """Scripts and tests (no browser, so no Origin) post JSON to the phone endpoints."""
    base, _port, _sim = simulator()
    assert requests.post(f"{base}/phone/sms", json=SMS, timeout=10).status_code == 200


def test_the_phone_page_sends_json(simulator):
    base, _port, _sim = simulator()
    page = requests.get(f"{base}/", timeout=10).text
    assert "headers: {'Content-Type': 'application/json'}" in page


def test_a_body_that_is_not_a_json_object_is_400(simulator):
    base, _port, _sim = simulator()
    response = requests.post(
        f"{base}/phone/sms", data="[1, 2", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert (response.status_code, response.json()) == (400, {"error": "the body must be a JSON object"})


def test_at_api_paths_refuse_another_sites_origin(simulator):
    """With no API key configured, a web page could otherwise make the simulator "send" and call back."""
    base, _port, _sim = simulator(api_key="")
    form = {"username": "sandbox", "to": "+254711000001", "message": "Hi"}
    refused = requests.post(
        f"{base}/version1/messaging", data=form, headers={"Origin": "https://evil.example"}, timeout=10
    )
    assert refused.status_code == 403
    assert requests.post(f"{base}/version1/messaging", data=form, timeout=10).status_code == 201  # the SDK's way

"""The simulator's rehearsal switches over real HTTP: dropped delivery reports, a refused key, every message failed.

Each is set at start (`Options`, the `atsim` flags) and switched while it runs
through `/control`; the simulator calls back the recorder of test_simulator (fixtures in conftest).
"""

import time

import pytest
import requests
from django.core.management import CommandError, call_command

from .test_simulator import API_KEY, wait_for

SMS = {"username": "sandbox", "to": "+254711000001", "message": "Hello"}
AUTH = {"apiKey": API_KEY}
AT_401 = "The supplied authentication is invalid"


def send(base, to="+254711000001"):
    response = requests.post(f"{base}/version1/messaging", data={**SMS, "to": to}, headers=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()["SMSMessageData"]["Recipients"]


def reports(received):
    return [(form["id"], form["status"]) for path, form in received if path == "/api/sms/delivery-reports"]


# --- Dropped delivery reports -------------------------------------------------------------------------


def test_dropping_delivery_reports_accepts_the_send_and_never_calls_back(simulator, project):
    project_url, received = project
    base, _port, sim = simulator(project_url=project_url, drop_delivery_reports=True)
    (recipient,) = send(base)
    assert (recipient["statusCode"], recipient["status"]) == (101, "Success")  # AT took it
    wait_for(lambda: len(sim.state.held) == 1)
    time.sleep(0.3)  # the reports would have come by now (delay 0)
    assert received == []
    assert requests.get(f"{base}/control", timeout=10).json()["held_reports"] == 1


def test_back_to_normal_at_runtime_reports_again_and_releases_the_held_ones(simulator, project):
    project_url, received = project
    base, _port, sim = simulator(project_url=project_url, drop_delivery_reports=True)
    (held,) = send(base)
    wait_for(lambda: len(sim.state.held) == 1)
    answer = requests.post(f"{base}/control", json={"drop_delivery_reports": False}, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {
        "drop_delivery_reports": False,
        "refuse_api_key": False,
        "failure_rate": 0.0,
        "held_reports": 1,
    }
    (fresh,) = send(base, "+254711000002")
    wait_for(lambda: len(reports(received)) == 2)
    assert reports(received) == [(fresh["messageId"], "Sent"), (fresh["messageId"], "Success")]
    released = requests.post(f"{base}/control", json={"release_held": True}, timeout=10)
    assert released.json()["held_reports"] == 0
    wait_for(lambda: len(reports(received)) == 4)
    assert reports(received)[2:] == [(held["messageId"], "Sent"), (held["messageId"], "Success")]


def test_switched_on_at_runtime_it_starts_dropping(simulator, project):
    project_url, received = project
    base, _port, sim = simulator(project_url=project_url)
    assert requests.post(f"{base}/control", json={"drop_delivery_reports": True}, timeout=10).status_code == 200
    send(base)
    wait_for(lambda: len(sim.state.held) == 1)
    assert received == []


# --- A refused API key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/version1/messaging", SMS),
        ("post", "/call", {"username": "sandbox", "from": "+254711082000", "to": "+254711000001"}),
        ("post", "/version1/airtime/send", {"username": "sandbox", "recipients": "[]"}),
        ("get", "/version1/user", None),
    ],
)
def test_refusing_the_api_key_answers_ats_401_even_to_the_right_key(simulator, project, method, path, data):
    project_url, received = project
    base, _port, _sim = simulator(project_url=project_url, refuse_api_key=True)
    response = requests.request(method, f"{base}{path}", data=data, headers=AUTH, timeout=10)
    assert (response.status_code, response.text) == (401, AT_401)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"  # AT answers 401 in plain text
    time.sleep(0.2)
    assert received == []  # nothing was sent, nothing calls back


def test_the_key_is_accepted_again_once_switched_back(simulator):
    base, _port, _sim = simulator(refuse_api_key=True)
    assert requests.post(f"{base}/version1/messaging", data=SMS, headers=AUTH, timeout=10).status_code == 401
    assert requests.post(f"{base}/control", json={"refuse_api_key": False}, timeout=10).status_code == 200
    assert requests.post(f"{base}/version1/messaging", data=SMS, headers=AUTH, timeout=10).status_code == 201
    wrong = requests.post(f"{base}/version1/messaging", data=SMS, headers={"apiKey": "wrong"}, timeout=10)
    assert (wrong.status_code, wrong.text) == (401, AT_401)  # a wrong key is still refused


# --- Every message failed -----------------------------------------------------------------------------------


def test_failure_rate_1_fails_every_message(simulator, project):
    project_url, received = project
    base, _port, _sim = simulator(project_url=project_url, failure_rate=1)
    numbers = [f"+25471100{n:02d}01" for n in range(20)]  # none ends in 99 (always failed) or 13 (invalid)
    ids = {r["messageId"] for n in numbers for r in send(base, n)}
    wait_for(lambda: len(reports(received)) == 40)
    finals = [form for path, form in received if path == "/api/sms/delivery-reports" and form["status"] != "Sent"]
    assert {f["id"] for f in finals} == ids
    assert {(f["status"], f["failureReason"]) for f in finals} == {("Failed", "UserInBlackList")}


def test_failure_rate_back_to_0_delivers_again(simulator, project):
    project_url, received = project
    base, _port, _sim = simulator(project_url=project_url, failure_rate=1)
    assert requests.post(f"{base}/control", json={"failure_rate": 0}, timeout=10).json()["failure_rate"] == 0.0
    send(base)
    wait_for(lambda: len(reports(received)) == 2)
    assert [status for _id, status in reports(received)] == ["Sent", "Success"]


# --- /control answers its own page and scripts only, and names bad input ----------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"drop_reports": True}, "unknown switch: drop_reports"),
        ({"drop_delivery_reports": "yes"}, "drop_delivery_reports must be true or false"),
        ({"failure_rate": 2}, "failure_rate must be a number from 0 to 1"),
        ({"failure_rate": "1"}, "failure_rate must be a number from 0 to 1"),
        ({"refuse_api_key": 1}, "refuse_api_key must be true or false"),
    ],
)
def test_a_bad_switch_is_400_naming_it_and_changes_nothing(simulator, body, error):
    base, _port, sim = simulator()
    response = requests.post(f"{base}/control", json={"refuse_api_key": True, **body}, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"].startswith(error)
    assert sim.options.refuse_api_key is False  # nothing applied, not even the valid switch beside it


def test_control_refuses_another_sites_request(simulator):
    base, port, sim = simulator()
    other_origin = requests.post(
        f"{base}/control", json={"refuse_api_key": True}, headers={"Origin": "https://evil.example"}, timeout=10
    )
    form = requests.post(f"{base}/control", data={"refuse_api_key": "true"}, timeout=10)
    rebound = requests.get(f"{base}/control", headers={"Host": f"evil.example:{port}"}, timeout=10)
    assert [r.status_code for r in (other_origin, form, rebound)] == [403, 403, 403]
    assert sim.options.refuse_api_key is False


# --- The atsim command ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["1.5", "-0.1"])
def test_atsim_refuses_a_failure_rate_outside_0_to_1(rate):
    with pytest.raises(CommandError, match="--failure-rate must be from 0 to 1"):
        call_command("atsim", "--port", "0", "--failure-rate", rate)


def test_atsim_has_the_rehearsal_flags():
    from simulator.management.commands.atsim import Command

    parser = Command().create_parser("manage.py", "atsim")
    options = parser.parse_args(["--drop-delivery-reports", "--refuse-api-key", "--failure-rate", "1"])
    assert (options.drop_delivery_reports, options.refuse_api_key, options.failure_rate) == (True, True, 1.0)
    defaults = parser.parse_args([])
    assert (defaults.drop_delivery_reports, defaults.refuse_api_key) == (False, False)


def test_atsim_started_with_the_flags_has_them_switched_on():
    """The command as a developer runs it: its /control says what it was started with."""
    import os
    import socket
    import subprocess
    import sys

    from django.conf import settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "atsim", "--port", str(port), "--api-key", "k"]
    flags = ["--drop-delivery-reports", "--refuse-api-key", "--failure-rate", "1"]
    process = subprocess.Popen(
        [*command, *flags], env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        answer = None
        for _ in range(200):
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/control", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
        assert answer.json() == {
            "drop_delivery_reports": True,
            "refuse_api_key": True,
            "failure_rate": 1.0,
            "held_reports": 0,
        }
        refused = requests.post(
            f"http://127.0.0.1:{port}/version1/messaging", data=SMS, headers={"apiKey": "k"}, timeout=10
        )
        assert (refused.status_code, refused.text) == (401, AT_401)
    finally:
        process.terminate()
        process.wait(timeout=10)

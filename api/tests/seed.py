"""Rows of every object the API shows, made the way production makes them: AT's callbacks through their URLs
and the services that send."""

from airtime.services import queue_airtime
from hub.testing import load_payload, post_callback
from simswap.services import queue_checks
from sms.models import OutboundMessage
from sms.services import queue_sms
from voice.services import queue_calls

PHONE = "+254711000001"


def seed(client, i: int = 0, phone: str = PHONE) -> None:
    """The i-th object of every kind for `phone`: a sent message with a delivery report, an inbound message, a
    USSD session of three hops, a call with an instruction request and an event, a call request, airtime and a
    SIM swap check. From the second on, each also adds children to the first parents."""
    batch = queue_sms([phone], f"Hello {i}", sender="ACME")
    OutboundMessage.objects.filter(batch=batch).update(at_message_id=f"ATXid_a{i}", status="sent")
    report = {**load_payload("sms", "delivery_report"), "id": f"ATXid_a{i}", "phoneNumber": phone}
    post_callback(client, "/api/sms/delivery-reports", report)
    inbound = {**load_payload("sms", "inbound_message"), "id": f"in-{i}", "from": phone, "text": f"Habari {i}"}
    post_callback(client, "/api/sms/twoway", inbound)
    for text in ("", "1", "1*1"):
        hop = {**load_payload("ussd", "session"), "sessionId": f"ATUid_a{i}", "phoneNumber": phone, "text": text}
        post_callback(client, "/api/ussd/session", hop)
    call = {"sessionId": f"ATVId_a{i}", "callerNumber": phone}
    post_callback(client, "/api/voice/instruct", {**load_payload("voice", "instruct"), **call})
    post_callback(client, "/api/voice/events", {**load_payload("voice", "event"), **call, "dtmfDigits": "1"})
    queue_calls([phone])
    queue_airtime([phone], "10", "KES")
    queue_checks([phone])
    if i:
        again = {**report, "id": "ATXid_a0", "retryCount": str(i)}
        post_callback(client, "/api/sms/delivery-reports", again)
        hop = {**load_payload("ussd", "session"), "sessionId": "ATUid_a0", "phoneNumber": phone, "text": f"1*1*{i}"}
        post_callback(client, "/api/ussd/session", hop)
        event = {**load_payload("voice", "event"), "sessionId": "ATVId_a0", "callerNumber": phone, "isActive": "1"}
        post_callback(client, "/api/voice/events", {**event, "dtmfDigits": str(i), "callSessionState": f"s{i}"})

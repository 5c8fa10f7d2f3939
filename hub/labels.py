"""What AT's codes mean, in words staff can act on: network codes, SMS status codes, failure reasons.

One place for every page, export and alert that shows them.
"""

from dataclasses import dataclass

#: Mobile network codes (MCC + MNC) AT reports in `networkCode`, with the operator's name.
NETWORKS = {
    "63902": "Safaricom KE",
    "63903": "Airtel KE",
    "63907": "Telkom KE",
    "63910": "Faiba KE",
    "64101": "Airtel UG",
    "64110": "MTN UG",
    "64111": "Uganda Telecom",
    "64114": "Africell UG",
    "64002": "Tigo TZ",
    "64003": "Zantel TZ",
    "64004": "Vodacom TZ",
    "64005": "Airtel TZ",
    "64009": "Halotel TZ",
    "63510": "MTN RW",
    "63513": "Airtel RW",
    "62120": "Airtel NG",
    "62130": "MTN NG",
    "62150": "Glo NG",
    "62160": "9mobile NG",
    "62001": "MTN GH",
    "62002": "Vodafone GH",
    "62003": "AirtelTigo GH",
    "65001": "TNM MW",
    "65010": "Airtel MW",
    "64501": "Airtel ZM",
    "64502": "MTN ZM",
    "63601": "Ethio Telecom ET",
    "60201": "Orange EG",
    "60400": "Orange MA",
    "65501": "Vodacom ZA",
    "65510": "MTN ZA",
    "99999": "AT sandbox (Athena)",
}

#: The label of messages sent with no sender id (AT's default sender).
DEFAULT_SENDER_LABEL = "AFRICASTKNG (AT's default)"

#: Delivery-report statuses (lower case) that are final and not delivered.
FAILED_REPORTS = frozenset({"failed", "rejected", "expired", "absentsubscriber"})


def network_name(code: str) -> str:
    """ "63902" → "Safaricom KE (63902)"; an unknown code as given."""
    code = (code or "").strip()
    if not code:
        return "unknown network"
    name = NETWORKS.get(code)
    return f"{name} ({code})" if name else code


@dataclass(frozen=True)
class Meaning:
    meaning: str
    action: str


#: AT's per-recipient SMS statusCode values (the send's answer).
SMS_STATUS_CODES = {
    100: Meaning("Processed: AT accepted the message.", "Wait for the delivery report."),
    101: Meaning("Sent: AT passed the message to the network.", "Wait for the delivery report."),
    102: Meaning("Queued: AT will send it shortly.", "Wait for the delivery report."),
    401: Meaning("RiskHold: AT held the message for a risk review.", "Contact AT support with the message id."),
    402: Meaning(
        "InvalidSenderId: the sender id is not registered to this account (or not for this network).",
        "Register the sender id with AT, or send from an approved one.",
    ),
    403: Meaning("InvalidPhoneNumber: AT did not accept the number.", "Check the number (international form)."),
    404: Meaning(
        "UnsupportedNumberType: the number cannot receive this kind of SMS (e.g. a landline).",
        "Use a mobile number.",
    ),
    405: Meaning("InsufficientBalance: the AT account has no credit left.", "Top up the AT account, then resend."),
    406: Meaning(
        "UserInBlacklist: the subscriber blocked messages from this sender (or all promotional SMS).",
        "Do not resend; the subscriber must opt in again.",
    ),
    407: Meaning("CouldNotRoute: AT has no route to this network.", "Contact AT support; check the number."),
    409: Meaning(
        "DoNotDisturbRejection: the subscriber's do-not-disturb setting refused it (e.g. Nigeria, 8 pm–8 am).",
        "Resend in the allowed hours, or from a transactional sender.",
    ),
    500: Meaning("InternalServerError at AT.", "Resend later; tell AT support if it persists."),
    501: Meaning("GatewayError at AT.", "Resend later; tell AT support if it persists."),
    502: Meaning("RejectedByGateway: the network's gateway refused it.", "Check the text and sender; resend later."),
}

#: Failure reasons (delivery reports' `failureReason`, and AT's refusals by name).
FAILURE_REASONS = {
    "insufficientcredit": Meaning(
        "The subscriber has no airtime for a premium (charged) message.",
        "Nothing to do now: the subscriber must top up; AT may retry premium messages.",
    ),
    "insufficientbalance": SMS_STATUS_CODES[405],
    "invalidlinkid": Meaning(
        "The premium reply's linkId is wrong or expired.", "Reply to the inbound message within its link's lifetime."
    ),
    "userisinactive": Meaning(
        "The subscriber's line is inactive.", "Remove the number or check it with the subscriber."
    ),
    "userinblacklist": SMS_STATUS_CODES[406],
    "userinblacklistreason": SMS_STATUS_CODES[406],
    "useraccountsuspended": Meaning("The subscriber's account is suspended by the network.", "Try again later."),
    "notnetworksubcriber": Meaning(
        "The number is not on the network the message was sent to (it moved networks).", "Check the number."
    ),
    "notnetworksubscriber": Meaning(
        "The number is not on the network the message was sent to (it moved networks).", "Check the number."
    ),
    "usernotsubscribedtoproduct": Meaning(
        "The subscriber is not subscribed to this premium service.", "Subscribe them first (or do not send)."
    ),
    "userdoesnotexist": Meaning("The number does not exist on the network.", "Remove or correct the number."),
    "deliveryfailure": Meaning(
        "The network could not deliver it (phone off, no coverage, full inbox).", "Resend later if it matters."
    ),
    "donotdisturbrejection": SMS_STATUS_CODES[409],
    "absentsubscriber": Meaning("The phone was off or out of coverage until the message expired.", "Resend later."),
    "riskhold": SMS_STATUS_CODES[401],
    "invalidsenderid": SMS_STATUS_CODES[402],
    "invalidphonenumber": SMS_STATUS_CODES[403],
    "unsupportednumbertype": SMS_STATUS_CODES[404],
    "couldnotroute": SMS_STATUS_CODES[407],
    "rejectedbygateway": SMS_STATUS_CODES[502],
    "invalid phone number": Meaning("The number is not a phone number: it was never sent.", "Correct the number."),
}


def failure_meaning(reason: str) -> Meaning:
    """What a failure reason means and what to do; our own reasons ("opted out of ...", "may have been sent")
    are explained too."""
    text = (reason or "").strip()
    key = text.lower()
    if key in FAILURE_REASONS:
        return FAILURE_REASONS[key]
    if key.startswith("opted out of"):
        return Meaning("The subscriber opted out of this sender id: never sent.", "Lift the opt-out only if they ask.")
    if "may have been sent" in key or key.startswith("no answer"):
        return Meaning(
            "AT may have received it but gave no usable answer (a timeout, a gateway error).",
            "Check with the subscriber or AT's dashboard before resending.",
        )
    if key.startswith("not sent after") or "could not be reached" in key:
        return Meaning("AT could not be reached after every retry: never sent.", "Check AT's status, then resend.")
    if key.startswith("at refused the request"):
        return Meaning(
            "AT refused the request (credentials, arguments).", "Read AT's answer in the reason; fix and resend."
        )
    return Meaning("", "")


def status_code_meaning(code) -> Meaning:
    try:
        return SMS_STATUS_CODES.get(int(code), Meaning("", ""))
    except (TypeError, ValueError):
        return Meaning("", "")


# --- Each product's own words for its outbound statuses ------------------------------------------
#
# Every outbound request shares OutboundStatus (hub/outbound.py), whose labels are SMS words
# ("sent", "buffered", "delivered"). A call, airtime or a SIM swap check is shown in its own words;
# the statuses a product never uses are left out (its list filter offers only these).

#: Tones a status badge is drawn in: on its way, done well, done badly, nobody knows.
PENDING, GOOD, BAD, UNSURE = "pending", "good", "bad", "unsure"

SMS_STATUSES = {
    "queued": ("queued", PENDING),
    "sending": ("sending to AT", PENDING),
    "submitted": ("submitted to AT", PENDING),
    "unknown": ("unknown (may have been sent)", UNSURE),
    "sent": ("sent to the network", PENDING),
    "buffered": ("buffered (phone unreachable for now)", PENDING),
    "failed": ("failed", BAD),
    "expired": ("expired", BAD),
    "rejected": ("rejected", BAD),
    "blocked": ("blocked (opted out)", BAD),
    "delivered": ("delivered", GOOD),
}

CALL_STATUSES = {
    "queued": ("queued", PENDING),
    "sending": ("calling AT", PENDING),
    "submitted": ("placed", GOOD),
    "unknown": ("unknown (may have been placed)", UNSURE),
    "rejected": ("rejected", BAD),
    "failed": ("failed", BAD),
}

AIRTIME_STATUSES = {
    "queued": ("queued", PENDING),
    "sending": ("sending to AT", PENDING),
    "submitted": ("sent to AT", PENDING),
    "unknown": ("unknown (may have been sent)", UNSURE),
    "rejected": ("refused", BAD),
    "failed": ("failed", BAD),
    "delivered": ("delivered", GOOD),
}

SIM_SWAP_STATUSES = {
    "queued": ("queued", PENDING),
    "sending": ("asking AT", PENDING),
    "submitted": ("asked AT", PENDING),
    "unknown": ("unknown (AT may have it)", UNSURE),
    "rejected": ("refused", BAD),
    "failed": ("failed", BAD),
    "delivered": ("result received", GOOD),
}

#: The words of each outbound model ("app_label.ModelName"), status → (label, tone).
STATUS_WORDS = {
    "sms.OutboundMessage": SMS_STATUSES,
    "voice.OutboundCall": CALL_STATUSES,
    "airtime.AirtimeTransaction": AIRTIME_STATUSES,
    "simswap.SimSwapCheck": SIM_SWAP_STATUSES,
}


def status_words(model_label: str) -> dict[str, tuple[str, str]]:
    """The statuses `model_label` uses, with their label and tone (SMS's words for a model not listed)."""
    return STATUS_WORDS.get(model_label, SMS_STATUSES)


def status_label(model_label: str, status: str) -> str:
    """ "voice.OutboundCall", "submitted" → "placed"; a status the product never uses as stored."""
    words = status_words(model_label)
    if status in words:
        return words[status][0]
    return SMS_STATUSES.get(status, (status, UNSURE))[0]


def status_tone(model_label: str, status: str) -> str:
    words = status_words(model_label)
    return (words.get(status) or SMS_STATUSES.get(status) or ("", UNSURE))[1]

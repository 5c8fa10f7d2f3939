"""Voice domain logic: calls updated from AT's callbacks, answers from call flows, outbound calls."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

import webhooks
from hub import gateway
from hub.answers import Outcome, chunked, store_answers
from hub.callbacks.models import Arrival
from hub.fields import clip
from hub.outbound import OutboundStatus, handle_failure
from hub.phones import normalize_phone

from .models import Call, KeyAction, KeypadOption, OutboundCall, Recording, RecordingKind, VoiceFlow
from .xml import VoiceResponse

logger = logging.getLogger("atproject.voice")


def xml_response(body: str):
    from django.http import HttpResponse

    return HttpResponse(body, content_type=settings.AT_VOICE_CONTENT_TYPE)


def sorry() -> str:
    """What a caller hears when something inside went wrong."""
    return str(VoiceResponse().say(settings.AT_VOICE_ERROR_TEXT))


# --- Calls from callbacks ------------------------------------------------------------------------


def update_call(event, arrival: Arrival | None = None) -> Call:
    """Apply any voice callback to its call (created on first sight): numbers, state, digits, recordings, cost.

    AT's callerNumber is the subscriber and destinationNumber our AT number on
    every request, inbound and outbound alike.
    """
    call, _created = Call.objects.select_for_update().get_or_create(
        session_id=event.at_session_id, defaults={"started_at": event.received_at}
    )
    if event.direction and not call.direction:
        call.direction = event.direction
    call.caller_number = call.caller_number or event.caller_number
    call.destination_number = call.destination_number or event.destination_number
    if not call.phone_e164:
        call.phone_e164 = normalize_phone(call.caller_number) or ""
    if event.dtmf_digits:
        call.dtmf_digits = clip(Call, "dtmf_digits", ",".join(filter(None, [call.dtmf_digits, event.dtmf_digits])))
    if event.is_active:
        call.state = call.state or "active"
    final = event.call_session_state or event.status
    ended_now = event.is_active is False and call.ended_at is None
    if event.is_active is False:
        call.state = final or "completed"
        call.ended_at = call.ended_at or event.received_at
    elif final and not event.is_active:
        call.state = final
    call.hangup_cause = event.hangup_cause or call.hangup_cause
    if event.duration_seconds is not None:
        call.duration_seconds = event.duration_seconds
    if event.amount is not None:
        call.cost, call.cost_currency = event.amount, event.currency_code
    call.save()
    if event.recording_url:
        kind = RecordingKind.VOICEMAIL if _awaiting_voicemail(call) else RecordingKind.CALL
        Recording.objects.get_or_create(call=call, url=event.recording_url, defaults={"kind": kind})
    type(event).objects.filter(pk=event.pk).update(call=call)
    event.call = call
    if ended_now:
        webhooks.emit("voice.call.ended", call)
    return call


def _awaiting_voicemail(call: Call) -> bool:
    """Did the last key pressed on this call ask for a voicemail?"""
    digits = call.dtmf_digits.rsplit(",", 1)[-1] if call.dtmf_digits else ""
    flow = flow_for(call.our_number)
    return bool(digits and flow and flow.options.filter(digits=digits, action=KeyAction.VOICEMAIL).exists())


# --- Answering instruction requests ---------------------------------------------------------------


def flow_for(number: str) -> VoiceFlow | None:
    """The call flow for one of our AT numbers; the default flow for any other."""
    candidates = {number, normalize_phone(number) or number, ""}
    flows = {f.number: f for f in VoiceFlow.objects.filter(number__in=candidates)}
    return flows.get(number) or flows.get(normalize_phone(number) or number) or flows.get("")


def _greeting(response: VoiceResponse, flow: VoiceFlow) -> None:
    if flow.greeting_audio_url:
        response.play(flow.greeting_audio_url)
    elif flow.greeting:
        response.say(flow.greeting, voice=flow.voice)


def _menu(response: VoiceResponse, flow: VoiceFlow) -> None:
    response.get_digits(
        say=flow.menu_prompt or None,
        voice=flow.voice or None,
        num_digits=max((len(d) for d in flow.options.values_list("digits", flat=True)), default=1),
        timeout=flow.digit_timeout,
    )
    if flow.no_input:
        response.say(flow.no_input, voice=flow.voice)


def _key(response: VoiceResponse, flow: VoiceFlow, option: KeypadOption) -> None:
    voice = flow.voice
    if option.action == KeyAction.SAY:
        response.say(option.text, voice=voice)
    elif option.action == KeyAction.PLAY:
        response.play(option.audio_url)
    elif option.action == KeyAction.DIAL:
        if option.text:
            response.say(option.text, voice=voice)
        numbers = [n.strip() for n in option.dial_numbers.split(",") if n.strip()]
        response.dial(numbers, record=option.record_calls or None, sequential=len(numbers) > 1 or None)
    elif option.action == KeyAction.VOICEMAIL:
        response.record(
            say=option.text or None,
            voice=voice or None,
            finish_on_key="#",
            max_length=option.max_length,
            trim_silence=True,
            play_beep=True,
        )
    elif option.action == KeyAction.HANG_UP and option.text:
        response.say(option.text, voice=voice)


def instructions_for(call: Call, event) -> str:
    """The XML for a call at this point: greeting and menu, a key's action, or thanks for a voicemail."""
    flow = flow_for(call.our_number)
    response = VoiceResponse()
    if flow is None:
        return str(response)  # no flow at all: an empty Response ends the call
    if event.recording_url:
        if flow.voicemail_thanks:
            response.say(flow.voicemail_thanks, voice=flow.voice)
        return str(response)
    has_menu = flow.options.exists()
    if event.dtmf_digits and has_menu:
        option = flow.options.filter(digits=event.dtmf_digits.strip()).first()
        if option is None:
            response.say(flow.invalid_choice, voice=flow.voice)
            _menu(response, flow)
        else:
            _key(response, flow, option)
        return str(response)
    _greeting(response, flow)
    if has_menu:
        _menu(response, flow)
    return str(response)


def answered_instruction(instruction, answer: str, arrival: Arrival | None = None) -> None:
    """An instruction request replayed from the spool: the caller heard `answer` (the apology) meanwhile."""
    update_call(instruction)
    instruction.response = answer
    type(instruction).objects.filter(pk=instruction.pk).update(response=answer)


def answer_instruction(instruction, arrival: Arrival | None = None) -> None:
    """An instruction request's effect: update its call and store the XML to answer (none once it ended)."""
    call = update_call(instruction)
    instruction.response = "" if instruction.is_active is False else instructions_for(call, instruction)
    type(instruction).objects.filter(pk=instruction.pk).update(response=instruction.response)


# --- Outbound calls ----------------------------------------------------------------------------------


def queue_calls(phones, *, user=None) -> list[OutboundCall]:
    """One outbound call per distinct number, from AT_VOICE_NUMBER, queued for the worker."""
    with transaction.atomic():
        calls = OutboundCall.objects.bulk_create(
            OutboundCall(phone=phone, from_number=settings.AT_VOICE_NUMBER, requested_by=user)
            for phone in dict.fromkeys(phones)
        )
        OutboundCall.enqueue([c.pk for c in calls])
    logger.info("%d outbound call(s) queued", len(calls))
    return calls


def chunk_size() -> int:
    """Numbers per call request to AT: AT_VOICE_CHUNK_SIZE, else AT_SMS_CHUNK_SIZE (as SMS chunks its sends)."""
    return getattr(settings, "AT_VOICE_CHUNK_SIZE", None) or settings.AT_SMS_CHUNK_SIZE


def place_queued(call_ids) -> None:
    """Ask AT to place the still-queued calls (the worker; no transaction held while AT answers): one
    request per from number and chunk of `chunk_size()` numbers."""
    claimed = OutboundCall.claim(call_ids)
    if not claimed:
        return
    calls = list(OutboundCall.objects.filter(pk__in=claimed).order_by("pk"))
    by_from = {}
    for call in calls:
        by_from.setdefault(call.from_number, []).append(call)
    for from_number, numbers in by_from.items():
        for group in chunked(numbers, chunk_size()):
            try:
                answer = gateway.call(from_number, [c.phone for c in group])
            except gateway.ATError as exc:
                handle_failure(OutboundCall, group, exc, what="Calls")
                continue
            store_call_entries(group, answer)


def store_call_entries(calls, answer: gateway.CallAnswer) -> None:
    """AT's answer per number (`hub.answers.store_answers`): Queued with its sessionId → submitted, linked to
    its Call; anything else → rejected.

    The Calls are created (all at once) with the numbers AT's callbacks will carry:
    the callee as callerNumber (the subscriber), our from number as destinationNumber.
    A Call a callback created first is kept.
    """
    now = timezone.now()
    with transaction.atomic():
        linked = _calls_for(calls, answer, now)

        def outcome(call, entry: gateway.CallEntry) -> Outcome:
            if entry.accepted:
                return Outcome(
                    OutboundStatus.SUBMITTED,
                    {
                        "at_status": entry.status,
                        "at_session_id": entry.session_id,
                        "call": linked[clip(Call, "session_id", entry.session_id)],
                        "submitted_at": now,
                    },
                )
            reason = entry.status or answer.error_message or "refused by AT"
            return Outcome(OutboundStatus.REJECTED, {"at_status": entry.status, "failure_reason": reason})

        store_answers(OutboundCall, calls, answer, outcome, error=answer.error_message, now=now)


def _calls_for(calls, answer: gateway.CallAnswer, now) -> dict:
    """The Call of every session AT queued for one of `calls`, by session id (created when new)."""
    sent = {call.phone: call for call in calls} | {normalize_phone(call.phone): call for call in calls}
    queued = [(entry, sent[entry.phone]) for entry in answer if entry.accepted and entry.phone in sent]
    Call.objects.bulk_create(
        [
            Call(
                session_id=clip(Call, "session_id", entry.session_id),
                direction="Outbound",
                caller_number=call.phone,
                destination_number=call.from_number,
                phone_e164=normalize_phone(call.phone) or "",
                started_at=now,
            )
            for entry, call in queued
        ],
        ignore_conflicts=True,
    )
    sessions = [clip(Call, "session_id", entry.session_id) for entry, _call in queued]
    return Call.objects.in_bulk(sessions, field_name="session_id")

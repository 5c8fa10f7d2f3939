"""AT voice XML: the actions a call runs, built with every text and attribute escaped.

    str(VoiceResponse().say("Welcome").get_digits(say="Press 1", num_digits=1))

gives `<?xml version="1.0" encoding="UTF-8"?><Response><Say>Welcome</Say><GetDigits
numDigits="1"><Say>Press 1</Say></GetDigits></Response>`. Attribute names follow
AT's (camelCase); booleans are written "true"/"false"; None leaves an attribute out.
"""

import re
import xml.etree.ElementTree as ET

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|[\ud800-\udfff]")


def _clean(text) -> str:
    return _NOT_XML.sub("", str(text))


def _attributes(**attributes) -> dict[str, str]:
    out = {}
    for name, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        out[name] = _clean(value)
    return out


class VoiceResponse:
    """A `<Response>` of actions, run by AT in order."""

    def __init__(self):
        self.root = ET.Element("Response")

    def _add(self, tag, text=None, parent=None, **attributes):
        element = ET.SubElement(self.root if parent is None else parent, tag, _attributes(**attributes))
        if text is not None:
            element.text = _clean(text)
        return element

    def _prompt(self, parent, say, play, voice):
        if say:
            self._add("Say", say, parent, voice=voice)
        if play:
            self._add("Play", parent=parent, url=play)

    def say(self, text: str, *, voice: str | None = None, play_beep: bool | None = None):
        self._add("Say", text, voice=voice or None, playBeep=play_beep)
        return self

    def play(self, url: str):
        self._add("Play", url=url)
        return self

    def get_digits(
        self, *, say=None, play=None, voice=None, num_digits=None, timeout=None, finish_on_key=None, callback_url=None
    ):
        """Collect key presses; AT posts them (`dtmfDigits`) to `callback_url` or the call's URL."""
        element = self._add(
            "GetDigits",
            numDigits=num_digits,
            timeout=timeout,
            finishOnKey=finish_on_key or None,
            callbackUrl=callback_url,
        )
        self._prompt(element, say, play, voice)
        return self

    def dial(
        self, phone_numbers, *, record=None, sequential=None, caller_id=None, ring_back_tone=None, max_duration=None
    ):
        self._add(
            "Dial",
            phoneNumbers=phone_numbers,
            record=record,
            sequential=sequential,
            callerId=caller_id,
            ringBackTone=ring_back_tone,
            maxDuration=max_duration,
        )
        return self

    def record(
        self,
        *,
        say=None,
        play=None,
        voice=None,
        finish_on_key=None,
        max_length=None,
        timeout=None,
        trim_silence=None,
        play_beep=None,
        callback_url=None,
    ):
        """Record the caller (a voicemail); AT sends the `recordingUrl` afterwards."""
        element = self._add(
            "Record",
            finishOnKey=finish_on_key,
            maxLength=max_length,
            timeout=timeout,
            trimSilence=trim_silence,
            playBeep=play_beep,
            callbackUrl=callback_url,
        )
        self._prompt(element, say, play, voice)
        return self

    def enqueue(self, *, hold_music=None, name=None):
        self._add("Enqueue", holdMusic=hold_music, name=name)
        return self

    def dequeue(self, *, phone_number, name=None):
        self._add("Dequeue", phoneNumber=phone_number, name=name)
        return self

    def conference(self):
        self._add("Conference")
        return self

    def redirect(self, url: str):
        self._add("Redirect", url)
        return self

    def reject(self):
        self._add("Reject")
        return self

    def __str__(self):
        return DECLARATION + ET.tostring(self.root, encoding="unicode")

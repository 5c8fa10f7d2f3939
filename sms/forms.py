"""Admin forms for sending SMS: compose (pasted or uploaded numbers) and reply.

The compose form keeps what it left out: invalid numbers and repeats (each
number as given, with the number it repeats), for the preview to list.
"""

import csv
import io
import re

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from hub.phones import normalize_phone
from hub.smstext import analyse

from .services import AT_DEFAULT_SENDER

MAX_CSV_BYTES = 5 * 1024 * 1024
_SPLIT = re.compile(r"[\s,;]+")


def numbers_from_text(text: str) -> list[str]:
    return [n for n in _SPLIT.split(text or "") if n]


def numbers_from_csv(upload) -> list[str]:
    """The first cell of each row that is a phone number (a header row, names, ... are skipped)."""
    if upload.size > MAX_CSV_BYTES:
        raise forms.ValidationError(_("The CSV file is larger than 5 MB."))
    text = upload.read().decode("utf-8-sig", errors="replace")
    numbers = []
    for row in csv.reader(io.StringIO(text)):
        cell = next((c.strip() for c in row if normalize_phone(c.strip())), None)
        if cell is None:
            cell = next((c.strip() for c in row if c.strip().lstrip("+").isdigit()), None)  # an invalid number
        if cell:
            numbers.append(cell)
    return numbers


def sender_choices():
    choices = [
        (
            "bulk",
            _("Sender id: %(sender)s") % {"sender": settings.AT_SENDER_ID or f"AT's default ({AT_DEFAULT_SENDER})"},
        )
    ]
    if settings.AT_SHORTCODE:
        choices.append(("shortcode", _("Shortcode: %(code)s") % {"code": settings.AT_SHORTCODE}))
    return choices


class ComposeForm(forms.Form):
    numbers = forms.CharField(
        label=_("Phone numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("International form (+254711000000), separated by new lines, commas or spaces."),
    )
    csv_file = forms.FileField(
        label=_("…or a CSV file"), required=False, help_text=_("The first phone number in each row is used.")
    )
    text = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}))
    sender = forms.ChoiceField(label=_("Send from"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sender"].choices = sender_choices()

    def clean(self):
        data = super().clean()
        given = numbers_from_text(data.get("numbers", ""))
        if data.get("csv_file"):
            given += numbers_from_csv(data["csv_file"])
        if not given:
            raise forms.ValidationError(_("Paste at least one phone number or upload a CSV file."))
        valid, invalid, duplicates = {}, [], []  # a dict keeps the order and drops repeats in O(1)
        for number in given:
            phone = normalize_phone(number)
            if phone is None:
                invalid.append(number)
            elif phone in valid:
                duplicates.append((number, phone))
            else:
                valid[phone] = None
        if not valid:
            raise forms.ValidationError(_("None of the numbers is valid: %(n)s") % {"n": ", ".join(invalid[:10])})
        data["recipients"], data["invalid"], data["duplicates"] = list(valid), invalid, duplicates
        return data

    @property
    def sender_value(self) -> str:
        return settings.AT_SHORTCODE if self.cleaned_data["sender"] == "shortcode" else settings.AT_SENDER_ID

    def carried(self) -> "ComposeForm":
        """The same choices as plain fields (the CSV's numbers included), to carry to the confirmation."""
        return ComposeForm(
            {
                "numbers": "\n".join(self.cleaned_data["recipients"]),
                "text": self.cleaned_data["text"],
                "sender": self.cleaned_data["sender"],
            }
        )


class ReplyForm(forms.Form):
    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 4}))


def describe_text(text: str) -> list[str]:
    """What staff should know about a text before sending it: encoding, length, SMS parts."""
    info = analyse(text)
    lines = [
        _("Encoding: %(enc)s, %(length)d characters, %(parts)d SMS part(s) per recipient.")
        % {"enc": info.encoding, "length": info.length, "parts": info.parts}
    ]
    if info.ucs2_characters:
        lines.append(
            _("UCS-2 because of: %(chars)s (fewer characters fit in each part).")
            % {"chars": " ".join(info.ucs2_characters[:20])}
        )
    return lines

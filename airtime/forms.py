"""Admin forms for sending airtime."""

from django import forms
from django.utils.translation import gettext_lazy as _

from sms.forms import numbers_from_text

from .services import AirtimeRefused, parse_amount, parse_currency


class AirtimeForm(forms.Form):
    amount = forms.CharField(label=_("Amount per recipient"), help_text=_("e.g. 10 or 10.50"))
    currency = forms.CharField(label=_("Currency"), initial="KES", max_length=3)

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"])
        except AirtimeRefused as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_currency(self):
        try:
            return parse_currency(self.cleaned_data["currency"])
        except AirtimeRefused as exc:
            raise forms.ValidationError(str(exc)) from None


class AirtimeToNumbersForm(AirtimeForm):
    numbers = forms.CharField(
        label=_("Phone numbers"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("International form (+254711000000), separated by new lines, commas or spaces."),
    )
    field_order = ["numbers", "amount", "currency"]

    def clean_numbers(self):
        from atproject.phones import normalize_phone

        given = numbers_from_text(self.cleaned_data["numbers"])
        invalid = [n for n in given if normalize_phone(n) is None]
        if invalid:
            raise forms.ValidationError(_("Not phone numbers: %(list)s") % {"list": ", ".join(invalid[:10])})
        phones = list(dict.fromkeys(normalize_phone(n) for n in given))
        if not phones:
            raise forms.ValidationError(_("Paste at least one phone number."))
        return "\n".join(phones)

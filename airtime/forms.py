"""Admin forms for sending airtime and for settling transactions whose outcome is unknown."""

from django import forms
from django.utils.translation import gettext_lazy as _

from sms.forms import numbers_from_text

from .services import AirtimeRefused, configured_currencies, limits_for, parse_amount, parse_currency


class AirtimeForm(forms.Form):
    amount = forms.CharField(label=_("Amount per recipient"), help_text=_("e.g. 10 or 10.50"))
    currency = forms.CharField(label=_("Currency"), initial="KES", max_length=3)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["currency"].help_text = _("Configured: %(list)s.") % {
            "list": ", ".join(configured_currencies()) or _("none")
        }

    def clean_amount(self):
        try:
            return parse_amount(self.cleaned_data["amount"])
        except AirtimeRefused as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_currency(self):
        """A 3-letter code of a currency with both limits configured."""
        try:
            currency = parse_currency(self.cleaned_data["currency"])
            limits_for(currency)
        except AirtimeRefused as exc:
            raise forms.ValidationError(str(exc)) from None
        return currency


class AirtimeToNumbersForm(AirtimeForm):
    numbers = forms.CharField(
        label=_("Phone numbers"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("International form (+254711000000), separated by new lines, commas or spaces."),
    )
    field_order = ["numbers", "amount", "currency"]

    def clean_numbers(self):
        from hub.phones import normalize_phone

        given = numbers_from_text(self.cleaned_data["numbers"])
        invalid = [n for n in given if normalize_phone(n) is None]
        if invalid:
            raise forms.ValidationError(_("Not phone numbers: %(list)s") % {"list": ", ".join(invalid[:10])})
        phones = list(dict.fromkeys(normalize_phone(n) for n in given))
        if not phones:
            raise forms.ValidationError(_("Paste at least one phone number."))
        return "\n".join(phones)


class SettleForm(forms.Form):
    """What staff found out about unknown transactions (AT's dashboard, the recipient)."""

    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"

    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (DELIVERED, _("Delivered: the recipient got the airtime (its amount stays counted today)")),
            (NOT_DELIVERED, _("Not delivered: AT never sent it (its amount is given back to its day's total)")),
        ],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=200,
        help_text=_("How you know, e.g. 'AT dashboard: Success, ATQid_...'. Kept with the transaction."),
    )

    @property
    def delivered(self) -> bool:
        return self.cleaned_data["outcome"] == self.DELIVERED

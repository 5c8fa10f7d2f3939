"""Call numbers as AT sends them: callerNumber is the subscriber, destinationNumber our AT number.

Earlier code stored outbound calls the other way round: a call our worker placed
had caller = our number and destination = the callee, and the E.164 column of an
outbound call came from its destination. This rewrites the stored calls: those
linked to an outbound call request get the numbers AT would have sent (the
request's phone as caller, its from number as destination), then every call's
E.164 column is the normalised caller. There is nothing to undo going back.
"""

import re

from django.conf import settings
from django.db import migrations, models

BATCH = 1000

# A frozen copy of hub.phones.normalize_phone, as it was when this migration was written.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-().]")


def normalize(value) -> str:
    """The E.164 form of `value`, or "" when it is not a phone number."""
    number = _SEPARATORS.sub("", str(value or ""))
    if not number:
        return ""
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        country = (getattr(settings, "AT_DEFAULT_COUNTRY_CODE", "") or "").lstrip("+")
        if not country:
            return ""
        number = "+" + country + number[1:]
    elif not number.startswith("+"):
        number = "+" + number
    return number if _E164.match(number) else ""


def recompute_numbers(apps, schema_editor):
    Call = apps.get_model("voice", "Call")
    OutboundCall = apps.get_model("voice", "OutboundCall")
    placed = OutboundCall.objects.filter(call__isnull=False).order_by("pk")
    for call_id, phone, from_number in placed.values_list("call_id", "phone", "from_number").iterator():
        Call.objects.filter(pk=call_id).update(caller_number=phone, destination_number=from_number)
    last = 0
    while True:  # in batches of primary keys, each read whole before writing (SQLite reads and writes interleave)
        batch = list(
            Call.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "caller_number", "phone_e164")[:BATCH]
        )
        if not batch:
            return
        for pk, caller, stored in batch:
            e164 = normalize(caller)
            if e164 != stored:
                Call.objects.filter(pk=pk).update(phone_e164=e164)
        last = batch[-1][0]


class Migration(migrations.Migration):
    dependencies = [("voice", "0004_failed_state_index")]

    operations = [
        migrations.AlterField(
            model_name="call",
            name="caller_number",
            field=models.CharField(
                blank=True,
                help_text=(
                    "AT's callerNumber: the phone user in the call, who called us (inbound) or whom we called "
                    "(outbound); as AT gave it, maybe SIP or withheld."
                ),
                max_length=128,
                verbose_name="subscriber",
            ),
        ),
        migrations.AlterField(
            model_name="call",
            name="destination_number",
            field=models.CharField(
                blank=True,
                help_text="AT's destinationNumber: our Africa's Talking number, on inbound and outbound calls alike.",
                max_length=128,
                verbose_name="our AT number",
            ),
        ),
        migrations.AlterField(
            model_name="call",
            name="phone_e164",
            field=models.CharField(
                blank=True,
                db_index=True,
                help_text="The subscriber (callerNumber) normalised; empty when not a phone number.",
                max_length=20,
                verbose_name="subscriber (E.164)",
            ),
        ),
        migrations.AlterField(
            model_name="voiceevent",
            name="caller_number",
            field=models.CharField(
                blank=True,
                help_text="The phone user in the call, inbound or outbound.",
                max_length=128,
                verbose_name="subscriber (callerNumber)",
            ),
        ),
        migrations.AlterField(
            model_name="voiceevent",
            name="destination_number",
            field=models.CharField(
                blank=True,
                help_text="Our Africa's Talking number, inbound or outbound.",
                max_length=128,
                verbose_name="our AT number (destinationNumber)",
            ),
        ),
        migrations.AlterField(
            model_name="voiceinstruction",
            name="caller_number",
            field=models.CharField(
                blank=True,
                help_text="The phone user in the call, inbound or outbound.",
                max_length=128,
                verbose_name="subscriber (callerNumber)",
            ),
        ),
        migrations.AlterField(
            model_name="voiceinstruction",
            name="destination_number",
            field=models.CharField(
                blank=True,
                help_text="Our Africa's Talking number, inbound or outbound.",
                max_length=128,
                verbose_name="our AT number (destinationNumber)",
            ),
        ),
        migrations.RunPython(recompute_numbers, migrations.RunPython.noop),
    ]

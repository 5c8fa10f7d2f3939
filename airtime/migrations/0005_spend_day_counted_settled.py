"""Each transaction's spend day, whether its amount is counted, and who settled it; backfilled.

Before this, the day's total was kept per UTC date of `created_at`, and an
amount was given back when the transaction was refused or failed (also when a
Success followed a Failed): the backfill records exactly that.
"""

from datetime import UTC

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models.functions import TruncDate

import airtime.models

# Statuses whose amount the earlier code gave back to the day's total.
GIVEN_BACK = ["failed", "rejected", "expired", "blocked"]


def backfill(apps, schema_editor):
    Transaction = apps.get_model("airtime", "AirtimeTransaction")
    Transaction.objects.update(spend_day=TruncDate("created_at", tzinfo=UTC))
    Transaction.objects.filter(status__in=GIVEN_BACK).update(counted=False)
    # Delivered after a Failed status: given back then, never counted again.
    Transaction.objects.filter(status="delivered", status_events__status__iexact="failed").update(counted=False)


class Migration(migrations.Migration):

    dependencies = [
        ('airtime', '0004_failed_state_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='airtimetransaction',
            options={'get_latest_by': 'created_at', 'ordering': ['-created_at', '-pk'], 'permissions': [('send_airtime', 'Can send airtime'), ('settle_airtime', 'Can settle airtime')], 'verbose_name': 'airtime transaction', 'verbose_name_plural': 'airtime transactions'},
        ),
        migrations.AddField(
            model_name='airtimetransaction',
            name='counted',
            field=models.BooleanField(default=True, help_text="Whether the amount is in its day's total now: given back when the airtime was refused or failed, taken again if AT then reports it delivered.", verbose_name='counted'),
        ),
        migrations.AddField(
            model_name='airtimetransaction',
            name='settled_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='settled at'),
        ),
        migrations.AddField(
            model_name='airtimetransaction',
            name='settled_by',
            field=models.ForeignKey(blank=True, help_text='Who decided, for an unknown transaction, whether it was delivered.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='settled by'),
        ),
        migrations.AddField(
            model_name='airtimetransaction',
            name='spend_day',
            field=models.DateField(default=airtime.models.operator_day, help_text="The operator's day whose daily total this amount is counted in (set when it is reserved).", verbose_name='spend day'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

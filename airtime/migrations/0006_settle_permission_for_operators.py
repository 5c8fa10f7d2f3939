"""Operators, who may send airtime, may also settle airtime whose outcome is unknown."""

from django.db import migrations

from hub.groups import OPERATORS, grant


def grant_settle(apps, schema_editor):
    grant(apps, OPERATORS, ["airtime.settle_airtime"])


class Migration(migrations.Migration):
    dependencies = [("airtime", "0005_spend_day_counted_settled")]
    operations = [migrations.RunPython(grant_settle, migrations.RunPython.noop)]

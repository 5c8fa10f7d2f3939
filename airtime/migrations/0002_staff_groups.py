"""Airtime permissions for the staff groups: viewers read, operators also send airtime."""

from django.db import migrations

from hub.groups import OPERATORS, VIEWERS, grant


def create_groups(apps, schema_editor):
    grant(apps, VIEWERS, ["airtime.view_*"])
    grant(apps, OPERATORS, ["airtime.view_*", "airtime.send_airtime"])


class Migration(migrations.Migration):
    dependencies = [("airtime", "0001_initial"), ("sms", "0003_staff_groups")]
    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]

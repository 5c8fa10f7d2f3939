"""Install the reference app's greeting as the default call flow."""

from django.db import migrations

GREETING = "Welcome to the service. This is a demo voice application. Goodbye."


def install(apps, schema_editor):
    VoiceFlow = apps.get_model("voice", "VoiceFlow")
    VoiceFlow.objects.get_or_create(number="", defaults={"greeting": GREETING})


class Migration(migrations.Migration):
    dependencies = [("voice", "0001_initial")]
    operations = [migrations.RunPython(install, migrations.RunPython.noop)]

"""Install the reference app's demo menu as the default menu, with its exact strings."""

from django.db import migrations

ROOT = "What would you want to check \n1. My Account \n2. My phone number"
ACCOUNT = "Choose account information you want to view \n1. Account number"


def install(apps, schema_editor):
    Menu = apps.get_model("ussd", "Menu")
    Screen = apps.get_model("ussd", "Screen")
    Option = apps.get_model("ussd", "Option")
    if Menu.objects.filter(is_default=True).exists():
        return
    menu = Menu.objects.create(name="Demo menu (reference app)", is_default=True)
    root = Screen.objects.create(menu=menu, name="start", action="CON", text=ROOT)
    account = Screen.objects.create(menu=menu, name="account", action="CON", text=ACCOUNT)
    phone = Screen.objects.create(menu=menu, name="phone number", action="END", text="Your phone number is {phone_number}")
    number = Screen.objects.create(menu=menu, name="account number", action="END", text="Your account number is ACC1001")
    invalid = Screen.objects.create(menu=menu, name="invalid choice", action="END", text="Invalid choice")
    Option.objects.create(screen=root, input="1", next_screen=account)
    Option.objects.create(screen=root, input="2", next_screen=phone)
    Option.objects.create(screen=account, input="1", next_screen=number)
    menu.root, menu.invalid = root, invalid
    menu.save()


def uninstall(apps, schema_editor):
    apps.get_model("ussd", "Menu").objects.filter(name="Demo menu (reference app)").delete()


class Migration(migrations.Migration):
    dependencies = [("ussd", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]

"""Create a local admin account on a fresh development database, and print its password once."""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "With DEBUG on and no user yet, create the superuser 'admin' with a generated password and print it."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no local admin created (use createsuperuser).")
            return
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        banner = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{banner}\nCreated the local admin account (shown only this once):\n"
                f"  user: {username}\n  password: {password}\n"
                f"  http://127.0.0.1:{os.environ.get('PORT', '8000')}/admin/\n{banner}"
            )
        )

"""Fixtures shared by every app's tests."""

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff_user(db):
    """A superuser: staff who may do everything."""
    return get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def spool_dir(settings, tmp_path):
    """Each test spools callbacks into its own folder."""
    settings.AT_SPOOL_DIR = str(tmp_path / "spool")
    return tmp_path / "spool"
